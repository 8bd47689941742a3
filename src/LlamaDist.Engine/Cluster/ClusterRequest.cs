namespace LlamaDist.Engine.Cluster;

/// <summary>What New-LlamaCluster asks for: a model, the workers to split it across, and how.</summary>
public sealed class ClusterRequest
{
    /// <summary>The GGUF on this machine (the coordinator always has the model: it tokenizes and, if needed, streams).</summary>
    public required string ModelPath { get; init; }

    /// <summary>Workers in ring order, "host:port".</summary>
    public required IReadOnlyList<string> Workers { get; init; }

    /// <summary>Run the first layers in this process too (the coordinator becomes the ring's first stage).</summary>
    public bool IncludeLocal { get; init; }

    /// <summary>Auto, Even, Memory, Tensor or Hybrid; ignored when <see cref="LayerCounts"/> is given.</summary>
    public string Split { get; init; } = "Auto";

    /// <summary>Explicit layers per node in ring order (the local node first with IncludeLocal).</summary>
    public IReadOnlyList<int>? LayerCounts { get; init; }

    /// <summary>
    /// With Split = Hybrid: workers per tensor-parallel group, taken in worker order. One number: groups of that
    /// size, the last taking what is left ([2] over 5 workers: 2, 2, 1); several: exactly those sizes, adding up to
    /// the workers ([2, 1]). Null: groups of 2.
    /// </summary>
    public IReadOnlyList<int>? TensorGroupSize { get; init; }

    /// <summary>Threads of the local stage; 0 means one per physical core.</summary>
    public int Threads { get; init; }

    /// <summary>
    /// F32 (default: exact, n_embd x 4 bytes per token per hop, output identical to a local run), F16 (half the
    /// bytes) or Q8_0 (about a quarter); docs/RELIABILITY.md measures what the smaller ones cost.
    /// </summary>
    public string ActivationEncoding { get; init; } = "F32";

    /// <summary>Reassign (default): a failed node's layers move to the remaining nodes mid-prompt; None: the prompt fails.</summary>
    public FailoverMode Failover { get; init; } = FailoverMode.Reassign;

    /// <summary>
    /// A stage that gives no sign of life (no answer to its health checks) for this long is declared failed, even
    /// in the middle of a long prompt step; also the deadline of each handshake.
    /// </summary>
    public TimeSpan StageTimeout { get; init; } = DefaultStageTimeout;

    /// <summary>Five seconds: far beyond a loaded worker's answer time, well below a user's patience.</summary>
    public static readonly TimeSpan DefaultStageTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Tokens per micro-batch of a prompt pipelined through the ring (llama.cpp's n_ubatch); 0 chooses it from the
    /// stages that can overlap (distinct machines) and the measured link (see PrefillPlanner).
    /// </summary>
    public int MicroBatchSize { get; init; }

    /// <summary>Tokens of KV cache the plan reserves memory for per session.</summary>
    public int PlanContextSize { get; init; } = 4096;

    /// <summary>The cluster token, the workers' certificate thumbprints and a client certificate, where the workers need them.</summary>
    public LlamaDist.Engine.Workers.WorkerAccess Access { get; init; } = LlamaDist.Engine.Workers.WorkerAccess.None;

    /// <summary>Name used in workers' logs.</summary>
    public string ClientName { get; init; } = $"coordinator@{Environment.MachineName}";
}
