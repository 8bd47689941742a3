using LlamaDist.Core.Backends;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Ring;
using LlamaDist.Distributed.Weights;

namespace LlamaDist.Engine.Cluster;

/// <summary>
/// Which nodes of a cluster serve now and which layers each runs. The plan New-LlamaCluster made stays the
/// reference: a node found dead or frozen is marked down, and rings are then built from the
/// <see cref="FailoverPlanner"/>'s re-plan of the survivors (loading the grown ranges on first use and keeping
/// them for later prompts); a down node that answers its health check again — restarted, or back on the
/// network — takes its own layers back, reloaded from its disk cache or its model file if it lost them.
/// Thread-safe: prompts of one cluster may run at once.
/// </summary>
internal sealed class ClusterTopology : IDisposable
{
    private readonly object sync = new();
    private readonly GgufFile file;
    private readonly string path;
    private readonly LlamaConfig config;
    private readonly ComputeThreads? localThreads;
    private readonly NodeState[] nodes;
    // Every range a worker holds for this cluster, the plan's own and those grown by failovers, by "endpoint|layers".
    private readonly Dictionary<string, RingStage> loaded = new(StringComparer.Ordinal);
    private readonly Dictionary<LayerRange, IRangeForward> localForwards = [];

    public ClusterTopology(GgufFile file, string path, LlamaConfig config, IReadOnlyList<ClusterNode> plan, IReadOnlyList<RingStage> stages,
        IRangeForward? localForward, ComputeThreads? localThreads)
    {
        InitialStages = stages;
        this.file = file;
        this.path = path;
        this.config = config;
        this.localThreads = localThreads;
        nodes = new NodeState[plan.Count];
        int remote = 0;
        for (int i = 0; i < plan.Count; i++)
        {
            if (plan[i].Endpoint == ClusterLoader.LocalEndpoint)
            {
                var layers = localForward!.Range;
                nodes[i] = new NodeState(plan[i], null, layers);
                localForwards[layers] = localForward;
                continue;
            }
            var stage = stages[remote++];
            nodes[i] = new NodeState(plan[i], stage.Worker, stage.Layers);
            loaded[Key(stage.Worker, stage.Layers)] = stage;
        }
    }

    /// <summary>The remote stages of the plan New-LlamaCluster made, in ring order.</summary>
    public IReadOnlyList<RingStage> InitialStages { get; }

    /// <summary>How long a probe of a down node may take before the node is left down for this prompt.</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a node found down is left alone before it is asked again.</summary>
    public TimeSpan ReprobeInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The worker clients in plan order (the local node has none).</summary>
    public IEnumerable<WorkerClient> Workers => nodes.Where(node => node.Worker is not null).Select(node => node.Worker!);

    /// <summary>What the ring of the next prompt is: remote stages in ring order, and the local forward that precedes them.</summary>
    public sealed record Layout(IReadOnlyList<RingStage> Stages, IRangeForward? Local, IReadOnlyList<ClusterNode> Nodes, bool Reassigned);

    /// <summary>
    /// The ring to use now. Down nodes are probed first (a node that answers again serves its own layers again);
    /// then the survivors' ranges are planned and loaded where new. Throws <see cref="Distributed.Cluster.PlanningException"/>
    /// when no node is left; worker failures while loading come out as <see cref="WorkerCallException"/> naming the worker.
    /// </summary>
    public Layout Current(CancellationToken cancellationToken, string? justFailed = null)
    {
        lock (sync)
        {
            // Every node is asked at once (a healthy one answers in a millisecond): a ring is never opened
            // through a node that is dead or frozen now. One a probe found down is asked again after
            // ReprobeInterval, so a node that stays frozen does not cost every prompt a probe timeout.
            var now = DateTime.UtcNow;
            // The node a failover is about has just failed: asking it again would only cost a probe timeout.
            var asked = nodes.Where(node => node.Worker is not null && node.Plan.Endpoint != justFailed
                && (!node.Down || now - node.ProbedUtc >= ReprobeInterval)).ToArray();
            var probes = asked.Select(node => ProbeAsync(node.Worker!, cancellationToken)).ToArray();
            WaitAll(probes, cancellationToken);
            for (int i = 0; i < asked.Length; i++)
            {
                asked[i].ProbedUtc = now;
                asked[i].Down = probes[i].Result is not null;
                asked[i].LastFailure = probes[i].Result ?? asked[i].LastFailure;
            }
            bool reassigned = nodes.Any(node => node.Down);
            var assignments = reassigned
                ? FailoverPlanner.Plan(nodes.Select(node => new FailoverNode(node.Plan.Endpoint, node.Layers, node.Plan.FreeMemoryBytes, !node.Down)).ToArray(),
                    config.LayerCount)
                : nodes.Select((node, index) => new FailoverAssignment(index, node.Layers)).ToArray();

            var stages = new List<RingStage>();
            var described = new List<ClusterNode>();
            IRangeForward? local = null;
            foreach (var assignment in assignments)
            {
                var node = nodes[assignment.Node];
                if (node.Worker is null)
                {
                    local = LocalForward(assignment.Layers);
                }
                else
                {
                    stages.Add(Stage(node.Worker, assignment.Layers, cancellationToken));
                }
                described.Add(Describe(node.Plan, assignment.Layers));
            }
            return new Layout(stages, local, described, reassigned);
        }
    }

    /// <summary>Marks a node down after it failed; the next <see cref="Current"/> plans without it until it answers again.</summary>
    public void MarkDown(string endpoint, string reason)
    {
        lock (sync)
        {
            foreach (var node in nodes.Where(node => node.Plan.Endpoint == endpoint))
            {
                node.Down = true;
                node.LastFailure = reason;
                // Not "probed": the next prompt asks it at once (a worker restarted meanwhile serves again).
                node.ProbedUtc = DateTime.MinValue;
            }
        }
    }

    /// <summary>
    /// Loads <paramref name="endpoint"/>'s range for <paramref name="layers"/> again: the worker restarted and lost
    /// it (it comes from the worker's cache or model file, else is streamed again).
    /// </summary>
    public void Reload(string endpoint, LayerRange layers, CancellationToken cancellationToken)
    {
        lock (sync)
        {
            var node = nodes.First(node => node.Plan.Endpoint == endpoint);
            loaded.Remove(Key(node.Worker!, layers));
            Stage(node.Worker!, layers, cancellationToken);
        }
    }

    /// <summary>Each node's health as last seen, probing every node now within <see cref="ProbeTimeout"/> (Get-LlamaCluster).</summary>
    public IReadOnlyList<(string Endpoint, bool Healthy, string? LastFailure)> Health(CancellationToken cancellationToken)
    {
        var probes = nodes.Select(node => node.Worker is null ? Task.FromResult<string?>(null)
            : ProbeAsync(node.Worker, cancellationToken)).ToArray();
        WaitAll(probes, cancellationToken);
        lock (sync)
        {
            for (int i = 0; i < nodes.Length; i++)
            {
                if (probes[i].Result is { } failure)
                {
                    nodes[i].Down = true;
                    nodes[i].LastFailure = failure;
                }
                else
                {
                    nodes[i].Down = false;  // back: the next prompt gives it its own layers again
                }
            }
            return nodes.Select(node => (node.Plan.Endpoint, !node.Down, node.LastFailure)).ToArray();
        }
    }

    /// <summary>Waits for every probe; the caller's cancellation comes out as OperationCanceledException, as everywhere.</summary>
    private static void WaitAll(Task[] probes, CancellationToken cancellationToken)
    {
        try
        {
            Task.WaitAll(probes, cancellationToken);
        }
        catch (AggregateException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }

    /// <summary>
    /// Null when the worker answers SERVING within the probe timeout, else what was observed. Asynchronous all the
    /// way: a probe that blocked a pool thread while it waited made the answers of every probe wait for threads on a
    /// busy machine, and a healthy node could miss the timeout and be planned out of a prompt.
    /// </summary>
    private async Task<string?> ProbeAsync(WorkerClient worker, CancellationToken cancellationToken)
    {
        try
        {
            return await worker.CheckHealthAsync(ProbeTimeout, cancellationToken).ConfigureAwait(false) ? null : $"Worker {worker.Endpoint} is shutting down.";
        }
        catch (WorkerCallException exception)
        {
            return exception.Message;
        }
    }

    private RingStage Stage(WorkerClient worker, LayerRange layers, CancellationToken cancellationToken)
    {
        var key = Key(worker, layers);
        if (loaded.TryGetValue(key, out var stage))
        {
            return stage;
        }
        var tensors = RangeTensors.Select(file, config, layers);
        var hash = RangeHasher.Hash(file, tensors, cancellationToken);
        ClusterLoader.LoadRange(worker, file, config, layers, tensors, hash, path, progress: null, 0, 1, cancellationToken);
        CoordinatorFilePages.Release(file, runsAStage: localThreads is not null);
        stage = new RingStage(worker, layers, hash);
        loaded[key] = stage;
        return stage;
    }

    private IRangeForward LocalForward(LayerRange layers)
    {
        if (!localForwards.TryGetValue(layers, out var forward))
        {
            forward = new LlamaForward(config, LlamaWeights.Load(file, config, layers), localThreads!);
            localForwards[layers] = forward;
        }
        return forward;
    }

    private ClusterNode Describe(ClusterNode plan, LayerRange layers) => new()
    {
        Endpoint = plan.Endpoint, WorkerId = plan.WorkerId, Name = plan.Name,
        LayerStart = layers.IsOutputHeadOnly ? config.LayerCount : layers.Start,
        LayerEnd = layers.IsOutputHeadOnly ? config.LayerCount + 1 : layers.EndExclusive,
        Layers = ClusterLoader.DescribeLayers(layers), WeightBytes = plan.WeightBytes, Backend = plan.Backend, Threads = plan.Threads,
        BytesPerSecond = plan.BytesPerSecond, FreeMemoryBytes = plan.FreeMemoryBytes, LoadMs = plan.LoadMs, WeightSource = plan.WeightSource,
        BytesStreamed = plan.BytesStreamed, RangeHash = plan.RangeHash,
    };

    private static string Key(WorkerClient worker, LayerRange layers) => $"{worker.Endpoint}|{layers.Start}|{layers.EndExclusive}|{layers.OutputElsewhere}";

    /// <summary>Gives back every range this cluster holds on its workers (a worker that is gone has nothing to free).</summary>
    public void Dispose()
    {
        List<RingStage> stages;
        lock (sync)
        {
            stages = [.. loaded.Values];
            loaded.Clear();
        }
        Parallel.ForEach(stages, stage =>
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                stage.Worker.ReleaseRangeAsync(stage.RangeHash, timeout.Token).GetAwaiter().GetResult();
            }
            catch (Exception exception) when (exception is WorkerCallException or OperationCanceledException or ObjectDisposedException)
            {
                // Gone or frozen: its lease frees the range.
            }
        });
        foreach (var worker in Workers)
        {
            worker.Dispose();
        }
    }

    private sealed class NodeState(ClusterNode plan, WorkerClient? worker, LayerRange layers)
    {
        public ClusterNode Plan { get; } = plan;
        public WorkerClient? Worker { get; } = worker;
        public LayerRange Layers { get; } = layers;
        public bool Down { get; set; }
        public string? LastFailure { get; set; }
        public DateTime ProbedUtc { get; set; }
    }
}
