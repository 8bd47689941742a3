using System.Diagnostics;
using LlamaDist.Core.Backends;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;
using LlamaDist.Core.Tokenization;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Ring;
using LlamaDist.Distributed.Tensor;
using LlamaDist.Engine.Benchmarks;
using LlamaDist.Engine.Chat;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Cluster;

/// <summary>
/// A model split across workers (and optionally this process): the plan, the connections, the loaded ranges.
/// Many prompts reuse it without reloading; each prompt is a ring session with its own KV caches.
/// Dispose releases every worker's range (freeing its memory). While it lives its leases on the workers are
/// renewed in the background; a coordinator that exits without Dispose leaves nothing behind once they expire.
/// </summary>
public sealed class ClusterModel : IDisposable, IGenerationModel
{
    private readonly GgufFile file;
    private readonly ClusterTopology? topology;
    private readonly ComputeThreads? localThreads;
    private readonly ActivationEncoding encoding;
    private readonly LeaseKeeper leases;
    private readonly IReadOnlyList<TensorShard>? shards;
    private readonly IReadOnlyList<IReadOnlyList<TensorShard>>? groups;
    private readonly ReductionEncoding reduction;
    private bool disposed;

    /// <param name="topology">The layer ring's nodes and ranges; null for a tensor-parallel split (<paramref name="shards"/>).</param>
    /// <param name="groups">A hybrid split's tensor-parallel groups in stage order (<paramref name="shards"/> is all their shards).</param>
    internal ClusterModel(GgufFile file, LlamaConfig config, ITokenizer tokenizer, ModelSummary summary, ClusterTopology? topology,
        IReadOnlyList<ClusterNode> nodes, ComputeThreads? localThreads, ActivationEncoding encoding,
        string split, double loadMs, LeaseKeeper leases, ClusterRequest request, IReadOnlyList<TensorShard>? shards = null,
        ReductionEncoding reduction = ReductionEncoding.F32, IReadOnlyList<IReadOnlyList<TensorShard>>? groups = null)
    {
        this.shards = shards;
        this.groups = groups;
        this.reduction = reduction;
        this.leases = leases;
        this.file = file;
        this.topology = topology;
        this.localThreads = localThreads;
        this.encoding = encoding;
        Failover = shards is null ? request.Failover : FailoverMode.None;
        StageTimeout = request.StageTimeout;
        Config = config;
        Tokenizer = tokenizer;
        Summary = summary;
        Nodes = nodes;
        Split = split;
        LoadMs = loadMs;
        CoordinatorFilePages.Release(file, runsAStage: localThreads is not null);
    }

    public string Id { get; } = Guid.NewGuid().ToString("N")[..12];

    /// <summary>The model file this coordinator holds open (for tests: what of it stays mapped).</summary>
    internal GgufFile File => file;

    public DateTime CreatedUtc { get; } = DateTime.UtcNow;

    public ModelSummary Summary { get; }

    /// <summary>The plan in ring order, with what loading each node took.</summary>
    public IReadOnlyList<ClusterNode> Nodes { get; }

    /// <summary>How the model was divided: Auto, Even, Memory or Explicit (layers), Tensor, or Hybrid (tensor groups as layer stages).</summary>
    public string Split { get; }

    /// <summary>
    /// The planner's predictions (decode ms per token of the layer and tensor splits, which was chosen and why) and
    /// the measured link; empty when nothing was measured (a local stage, or workers that cannot be measured).
    /// </summary>
    public string Plan { get; internal set; } = "";

    /// <summary>How hidden states travel between stages (F32, F16, Q8_0), or partial sums between shards.</summary>
    public string ActivationEncoding => shards is not null
        ? reduction switch { ReductionEncoding.F16 => "F16", ReductionEncoding.Q80 => "Q8_0", _ => "F32" }
        : encoding switch
        {
            Distributed.Protocol.ActivationEncoding.F16 => "F16",
            Distributed.Protocol.ActivationEncoding.Q80 => "Q8_0",
            _ => "F32",
        };

    public double LoadMs { get; }

    /// <summary>Whether a failed node's layers are reassigned mid-prompt (Reassign) or the prompt fails (None).</summary>
    public FailoverMode Failover { get; }

    /// <summary>How long a stage may give no sign of life before it is declared failed.</summary>
    public TimeSpan StageTimeout { get; }

    public bool IsDisposed => disposed;

    /// <summary>Tokens per micro-batch of a pipelined prompt; 0: chosen per prompt by <see cref="Costs"/>.</summary>
    public int MicroBatchSize { get; init; }

    /// <summary>The ring's learnt step costs, shared by its sessions (see <see cref="ClusterCosts"/>).</summary>
    internal RingCostModel Costs => LazyInitializer.EnsureInitialized(ref costs, () => ClusterCosts.Create(Nodes, topology?.InitialStages ?? []));

    private RingCostModel? costs;

    /// <summary>
    /// Each node's health, every worker asked now (within the stage timeout): Healthy, or Down with what was
    /// observed; a node of a layer split that answers again serves its own layers again from the next prompt on.
    /// </summary>
    public IReadOnlyList<NodeHealth> Health(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (topology is null)
        {
            // Tensor shards: no failover (every shard holds a slice of every layer), but the same probe.
            return shards!.Select(shard => ShardHealth(shard, cancellationToken)).ToArray();
        }
        var health = topology.Health(cancellationToken);
        return Nodes.Select(node =>
        {
            var (endpoint, healthy, lastFailure) = health.First(entry => entry.Endpoint == node.Endpoint);
            return new NodeHealth(endpoint, healthy, lastFailure);
        }).ToArray();
    }

    private NodeHealth ShardHealth(TensorShard shard, CancellationToken cancellationToken)
    {
        string endpoint = shard.Worker.Endpoint.ToString();
        try
        {
            bool serving = shard.Worker.CheckHealthAsync(StageTimeout, cancellationToken).GetAwaiter().GetResult();
            return new NodeHealth(endpoint, serving, serving ? null : $"Worker {endpoint} is shutting down.");
        }
        catch (WorkerCallException exception)
        {
            return new NodeHealth(endpoint, false, exception.Message);
        }
    }

    /// <summary>Rounds of lease renewal so far (tests: renewals keep the workers' ranges alive).</summary>
    internal long LeaseRenewals => leases.Renewals;

    /// <summary>Stops renewing without releasing anything: what a coordinator that died leaves (tests of lease expiry).</summary>
    internal void StopRenewingLeases() => leases.Dispose();

    /// <summary>Threads of the local stage, or of the first worker when there is none.</summary>
    public int Threads => localThreads?.ThreadCount
        ?? (int)(shards is { Count: > 0 } ? shards[0].Worker : topology!.Workers.First()).Handshake.Capabilities.Threads;

    internal LlamaConfig Config { get; }

    internal ITokenizer Tokenizer { get; }

    LlamaConfig IGenerationModel.Config => Config;

    ITokenizer IGenerationModel.Tokenizer => Tokenizer;

    /// <summary>Connects, plans and loads (see <see cref="ClusterLoader"/>).</summary>
    public static ClusterModel Create(ClusterRequest request, IProgress<ClusterLoadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var path = ModelPaths.Resolve(request.ModelPath);
        return ExceptionTranslation.Run(path, () => ClusterLoader.Load(request, path, progress, cancellationToken));
    }

    public GenerationResult Generate(GenerationRequest request, Action<string>? onText = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return ExceptionTranslation.Run(Summary.Path, () =>
        {
            var outer = promptCancellation.Value;
            promptCancellation.Value = cancellationToken;
            try
            {
                return new GenerationLoop(this).Run(request, onText, cancellationToken);
            }
            catch (FailoverExhaustedException exhausted) when (!cancellationToken.IsCancellationRequested)
            {
                throw PartialResults.Describe(this, request, exhausted);
            }
            catch (Exception exception) when (cancellationToken.IsCancellationRequested && exception is not OperationCanceledException)
            {
                // Cancelling aborts the prompt's streams, which may surface as a stream error first: it is the
                // caller's cancellation, not a worker's failure.
                throw new OperationCanceledException("The prompt was cancelled.", exception, cancellationToken);
            }
            finally
            {
                promptCancellation.Value = outer;
            }
        });
    }

    /// <summary>The assistant's reply to a conversation, rendered with the model's chat template (or the one named).</summary>
    public ChatResult Chat(ChatRequest request, Action<string>? onText = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return ExceptionTranslation.Run(Summary.Path, () => ChatGeneration.Run(this, Summary.ChatTemplate, request, onText, cancellationToken));
    }

    /// <summary>llama-bench's pp/tg tests through the ring (see <see cref="BenchmarkRunner"/>).</summary>
    public IReadOnlyList<BenchmarkRow> Benchmark(BenchmarkRequest request, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return ExceptionTranslation.Run(Summary.Path, () => new BenchmarkRunner(this).Run(request, progress, cancellationToken));
    }

    /// <summary>
    /// The cancellation of the prompt running on this thread (flows to the sequences it opens): a step in flight
    /// is abandoned at once on Ctrl+C, and disposing the sequence frees its sessions on the workers right away.
    /// </summary>
    private static readonly AsyncLocal<CancellationToken> promptCancellation = new();

    IGenerationSequence IGenerationModel.Open(int contextSize, int batchSize)
    {
        if (shards is not null)
        {
            var tensorOptions = new TensorSessionOptions
            {
                ContextSize = contextSize, MaxBatchTokens = batchSize, VocabularySize = Config.VocabularySize, Encoding = reduction,
                EmbeddingLength = Config.EmbeddingLength, HiddenEncoding = encoding,
            };
            if (groups is { Count: > 1 })
            {
                var hybrid = HybridSession.OpenAsync(groups, tensorOptions, CancellationToken.None).GetAwaiter().GetResult();
                return new ObservedSequence(new NoFailoverSequence(new HybridClusterSequence(hybrid, groups.Select(group => group.Count).ToArray(), Nodes)), Nodes);
            }
            var group = TensorGroupSession.OpenAsync(shards, tensorOptions, CancellationToken.None).GetAwaiter().GetResult();
            return new ObservedSequence(new NoFailoverSequence(new TensorClusterSequence(group, Nodes)), Nodes);
        }
        var options = new RingOptions
        {
            ContextSize = contextSize,
            MaxBatchTokens = batchSize,
            EmbeddingLength = Config.EmbeddingLength,
            VocabularySize = Config.VocabularySize,
            Encoding = encoding,
            MicroBatchTokens = MicroBatchSize,
            Costs = Costs,
            StageTimeout = StageTimeout,
        };
        return new ObservedSequence(new ClusterSequence(topology!, options, Failover == FailoverMode.Reassign, promptCancellation.Value), Nodes);
    }

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }
        disposed = true;
        leases.Dispose();
        if (shards is not null)
        {
            TensorGroupLoader.ReleaseAsync(shards).GetAwaiter().GetResult();
            foreach (var shard in shards)
            {
                shard.Worker.Dispose();
            }
        }
        topology?.Dispose();
        localThreads?.Dispose();
        file.Dispose();
    }
}
