using System.Diagnostics;
using LlamaDist.Core.Backends;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;
using LlamaDist.Core.Tokenization;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Cluster;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Ring;
using LlamaDist.Distributed.Weights;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Formatting;
using LlamaDist.Engine.Models;
using LlamaDist.Worker.State;

namespace LlamaDist.Engine.Cluster;

/// <summary>
/// Builds a <see cref="ClusterModel"/>: handshake with every worker (in parallel), plan the layer ranges from
/// their measured throughput and free memory, then have each worker load its range — from its own copy when it
/// has one (verified by the range hash), else from its cache, else streamed from here once, in chunks. The
/// coordinator never sends weights a worker already has.
/// </summary>
internal static class ClusterLoader
{
    public static ClusterModel Load(ClusterRequest request, string path, IProgress<ClusterLoadProgress>? progress, CancellationToken cancellationToken)
    {
        var total = Stopwatch.StartNew();
        if (request.Workers.Count == 0)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, "A cluster needs at least one worker endpoint.", nameof(request.Workers));
        }
        var endpoints = ParseEndpoints(request.Workers);
        if (request.StageTimeout <= TimeSpan.Zero || request.StageTimeout > TimeSpan.FromHours(1))
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"The stage timeout must be more than 0 and at most an hour, not {request.StageTimeout}.", nameof(request.StageTimeout));
        }
        var encoding = request.ActivationEncoding.ToUpperInvariant() switch
        {
            "F16" => ActivationEncoding.F16,
            "F32" => ActivationEncoding.F32,
            "Q8_0" => ActivationEncoding.Q80,
            _ => throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Activation encoding '{request.ActivationEncoding}' is not F32, F16 or Q8_0.", nameof(request.ActivationEncoding)),
        };

        if (request.TensorGroupSize is { Count: > 0 } && !HybridClusterLoader.IsHybrid(request.Split))
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument,
                $"Tensor group sizes apply to a Hybrid split, not '{request.Split}'.", nameof(request.TensorGroupSize));
        }
        var file = GgufFile.Open(path);
        var clients = new List<WorkerClient>();
        ComputeThreads? localThreads = null;
        LeaseKeeper? leases = null;
        var stages = new List<RingStage>();
        try
        {
            var config = LlamaConfig.FromGguf(file);
            var tokenizer = TokenizerFactory.FromGguf(file);
            LlamaWeights.Load(file, config, LayerRange.All(config.LayerCount), WeightMemory.Mapped);  // every tensor checked before anything is sent; nothing copied
            var summary = ModelInspector.Summarize(file, config);

            progress?.Report(new ClusterLoadProgress("Connecting", string.Join(", ", endpoints), 0));
            var credentials = request.Access.ToCredentials();
            // A listener that never answers fails its handshake within a few stage timeouts, as a deadline naming it.
            var handshakeTimeout = request.StageTimeout * 3 > WorkerClient.DefaultHandshakeTimeout ? WorkerClient.DefaultHandshakeTimeout : request.StageTimeout * 3;
            clients.AddRange(Task.WhenAll(endpoints.Select(endpoint => WorkerClient.ConnectAsync(endpoint, credentials, request.ClientName, cancellationToken, handshakeTimeout)))
                .GetAwaiter().GetResult());
            // Renewed from here on: loading (hashing, streaming weights) may take longer than a lease, and what a
            // failed load leaves behind on the workers expires with it.
            leases = new LeaseKeeper(clients);
            if (TensorClusterLoader.IsTensor(request.Split) && request.LayerCounts is not { Count: > 0 })
            {
                return TensorClusterLoader.Load(request, path, file, config, tokenizer, summary, clients, leases, total, progress, cancellationToken);
            }
            if (HybridClusterLoader.IsHybrid(request.Split) && request.LayerCounts is not { Count: > 0 })
            {
                return HybridClusterLoader.Load(request, path, file, config, tokenizer, summary, clients, leases, total, progress, cancellationToken);
            }

            var nodes = new List<PlanNode>();
            if (request.IncludeLocal)
            {
                localThreads = new ComputeThreads(request.Threads > 0 ? request.Threads : CpuTopology.PhysicalCoreCount);
                var (_, bytesPerSecond) = ThroughputProbe.Measure(localThreads);
                nodes.Add(new PlanNode(LocalEndpoint, bytesPerSecond, SystemMemory.Available()));
            }
            nodes.AddRange(clients.Select(client => new PlanNode(client.Endpoint.ToString(),
                client.Handshake.Capabilities.BytesPerSecond, (long)client.Handshake.Capabilities.FreeMemoryBytes)));

            var (mode, counts) = ParseSplit(request);
            // Link and current speed of every worker: Auto plans with them; every split shows its prediction.
            var measured = request.IncludeLocal ? null : AutoSplit.Measure(clients, cancellationToken, together: mode == SplitMode.Auto);
            if (measured is not null && mode == SplitMode.Auto)
            {
                nodes = AutoSplit.WithMeasuredThroughput(nodes, measured);
            }
            var plan = PlanWithHead(nodes, file, config, request, mode, counts);
            var layerPrediction = measured is null ? null : AutoSplit.PredictLayer(plan, nodes, file, config, measured, request.ActivationEncoding);
            string planText = layerPrediction is null ? "" : $"{layerPrediction}; {measured}";
            if (mode == SplitMode.Auto && measured is not null && layerPrediction is not null)
            {
                var tensor = AutoSplit.TryTensor(request, path, file, config, tokenizer, summary, clients, leases, total, progress, nodes,
                    measured, layerPrediction, ref planText, cancellationToken);
                if (tensor is not null)
                {
                    return tensor;
                }
            }

            var clusterNodes = new List<ClusterNode>();
            IRangeForward? localForward = null;
            foreach (var assignment in plan.Stages)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var tensors = RangeTensors.Select(file, config, assignment.Layers);
                var weightBytes = RangeTensors.ByteCount(tensors);
                var clock = Stopwatch.StartNew();
                if (request.IncludeLocal && assignment.NodeIndex == 0)
                {
                    localForward = new CpuBackend(localThreads!).Load(config, LlamaWeights.Load(file, config, assignment.Layers));
                    clusterNodes.Add(new ClusterNode
                    {
                        Endpoint = LocalEndpoint, WorkerId = RingSession.LocalWorkerId, Name = Environment.MachineName,
                        LayerStart = assignment.Layers.Start, LayerEnd = assignment.Layers.EndExclusive, WeightBytes = weightBytes,
                        Backend = "CPU", Threads = localThreads!.ThreadCount, BytesPerSecond = nodes[0].Throughput,
                        FreeMemoryBytes = nodes[0].FreeMemoryBytes, LoadMs = clock.Elapsed.TotalMilliseconds,
                        WeightSource = "this process", BytesStreamed = 0, RangeHash = "", Layers = DescribeLayers(assignment.Layers),
                    });
                    continue;
                }

                var client = clients[assignment.NodeIndex - (request.IncludeLocal ? 1 : 0)];
                progress?.Report(new ClusterLoadProgress($"Loading layers {assignment.Layers} on {client.Endpoint}", "hashing the range", StageFraction(clusterNodes.Count, plan.Stages.Count, 0)));
                var hash = RangeHasher.Hash(file, tensors, cancellationToken);
                var (source, streamed) = LoadRange(client, file, config, assignment.Layers, tensors, hash, path, progress,
                    clusterNodes.Count, plan.Stages.Count, cancellationToken);
                stages.Add(new RingStage(client, assignment.Layers, hash));
                var capabilities = client.Handshake.Capabilities;
                clusterNodes.Add(new ClusterNode
                {
                    Endpoint = client.Endpoint.ToString(), WorkerId = client.WorkerId, Name = client.Handshake.Worker.HostName,
                    LayerStart = assignment.Layers.Start, LayerEnd = assignment.Layers.IsOutputHeadOnly ? config.LayerCount + 1 : assignment.Layers.EndExclusive,
                    WeightBytes = weightBytes, Backend = capabilities.Backend.ToString().ToUpperInvariant(), Threads = (int)capabilities.Threads,
                    BytesPerSecond = capabilities.BytesPerSecond, FreeMemoryBytes = (long)capabilities.FreeMemoryBytes,
                    LoadMs = clock.Elapsed.TotalMilliseconds, WeightSource = source, BytesStreamed = streamed, RangeHash = hash,
                    Layers = DescribeLayers(assignment.Layers),
                });
            }
            progress?.Report(new ClusterLoadProgress("Cluster ready", plan.ToString(), 1));
            for (int i = 0; layerPrediction is not null && i < clusterNodes.Count; i++)
            {
                clusterNodes[i].PredictedMsPerToken = layerPrediction.NodeMilliseconds[i];
            }
            var topology = new ClusterTopology(file, path, config, clusterNodes, stages, localForward, localThreads) { ProbeTimeout = request.StageTimeout };
            return new ClusterModel(file, config, tokenizer, summary, topology, clusterNodes, localThreads, encoding,
                plan.Mode.ToString(), total.Elapsed.TotalMilliseconds, leases, request)
            {
                MicroBatchSize = request.MicroBatchSize,
                Plan = planText,
            };
        }
        catch
        {
            leases?.Dispose();
            ReleaseQuietly(stages);
            foreach (var client in clients)
            {
                client.Dispose();
            }
            localThreads?.Dispose();
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A load that failed part-way gives back the ranges it had loaded at once (the workers would free them when
    /// the lease ends anyway); a worker that does not answer within a few seconds is left to its lease.
    /// </summary>
    private static void ReleaseQuietly(IEnumerable<RingStage> stages)
    {
        foreach (var stage in stages)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                stage.Worker.ReleaseRangeAsync(stage.RangeHash, timeout.Token).GetAwaiter().GetResult();
            }
            catch (Exception exception) when (exception is WorkerCallException or OperationCanceledException or ObjectDisposedException)
            {
                // Gone or slow: its lease frees the range.
            }
        }
    }

    /// <summary>
    /// The planner divides blocks, every node taking at least one. When there is exactly one node more than
    /// blocks (a one-layer model over two workers), or explicit counts end in 0, the last node takes the output
    /// head alone — output_norm and the head, often the largest matrix of a small model — and the blocks are
    /// planned over the other nodes.
    /// </summary>
    private static LayerPlan PlanWithHead(List<PlanNode> nodes, GgufFile file, LlamaConfig config, ClusterRequest request,
        SplitMode mode, IReadOnlyList<int>? counts)
    {
        bool headAlone = mode == SplitMode.Explicit
            ? counts!.Count >= 2 && counts[^1] == 0
            : nodes.Count == config.LayerCount + 1;
        if (!headAlone)
        {
            return LayerPlanner.Plan(nodes, PlanRequestFor(file, config, request, mode, counts));
        }

        var blockPlan = LayerPlanner.Plan(nodes[..^1], PlanRequestFor(file, config, request, mode, counts?.Take(counts.Count - 1).ToArray()));
        var stages = blockPlan.Stages.ToList();
        var last = stages[^1];
        stages[^1] = last with { Layers = last.Layers.WithOutputElsewhere() };
        var head = LayerRange.OutputHead(config.LayerCount);
        long headBytes = RangeTensors.ByteCount(RangeTensors.Select(file, config, head));
        stages.Add(new LayerAssignment(nodes.Count - 1, nodes[^1].Endpoint, head, headBytes, KvBytes: 0));
        return blockPlan with { Stages = stages };
    }

    /// <summary>"0-10" (first and last block), "output head", or "0-10" with the head left to the next node.</summary>
    internal static string DescribeLayers(LayerRange layers) =>
        layers.IsOutputHeadOnly ? "output head" : $"{layers.Start}-{layers.EndExclusive - 1}";

    /// <summary>The endpoint name of the coordinator's own stage.</summary>
    public const string LocalEndpoint = "local";

    internal static (string Source, long Streamed) LoadRange(WorkerClient client, GgufFile file, LlamaConfig config, LayerRange layers,
        IReadOnlyList<GgufTensorInfo> tensors, string hash, string path, IProgress<ClusterLoadProgress>? progress, int index, int count,
        CancellationToken cancellationToken)
    {
        long totalBytes = RangeTensors.ByteCount(tensors);
        var request = new LoadRangeRequest
        {
            Model = new ModelIdentity { FileName = Path.GetFileName(path), RangeHash = hash },
            Layers = ProtocolMapping.ToMessage(layers, config.LayerCount),
            Config = ProtocolMapping.ToMessage(config),
            WorkerPath = path,
            Stream = new WeightStreamSource { TotalBytes = (ulong)totalBytes, TensorCount = (uint)tensors.Count },
        };
        var reply = client.LoadRangeAsync(request, cancellationToken).GetAwaiter().GetResult();
        if (reply.State == RangeLoadState.Loaded)
        {
            // The worker's own words ("loaded from model file /models/x.gguf") name where; the node says which kind.
            var source = reply.Message.StartsWith("loaded from cache", StringComparison.Ordinal) ? "cache"
                : reply.Message.StartsWith("already loaded", StringComparison.Ordinal) ? "already loaded"
                : "model file";
            return (source, 0);
        }

        // The stream runs on the thread pool; progress is reported from this (the caller's) thread, which is the
        // only one a PowerShell cmdlet may write progress from.
        var activity = $"Sending layers {layers} to {client.Endpoint}";
        var counter = new ByteCounter();
        var streaming = client.StreamWeightsAsync(file, tensors, hash, counter, cancellationToken);
        long lastPercent = -1;
        while (!((IAsyncResult)streaming).AsyncWaitHandle.WaitOne(TimeSpan.FromMilliseconds(100)))
        {
            long bytes = counter.Value;
            long percent = totalBytes == 0 ? 100 : bytes * 100 / totalBytes;
            if (percent != lastPercent)
            {
                lastPercent = percent;
                progress?.Report(new ClusterLoadProgress(activity, $"{HumanReadable.Bytes(bytes)} of {HumanReadable.Bytes(totalBytes)}",
                    StageFraction(index, count, percent / 100.0)));
            }
        }
        var streamed = streaming.GetAwaiter().GetResult();
        return ("streamed", (long)streamed.BytesReceived);
    }

    private static double StageFraction(int index, int count, double within) => (index + within) / Math.Max(1, count);

    /// <summary>Bytes sent so far, written by the streaming task and read by the reporting loop.</summary>
    private sealed class ByteCounter : IProgress<long>
    {
        private long value;

        public long Value => Interlocked.Read(ref value);

        public void Report(long bytes) => Interlocked.Exchange(ref value, bytes);
    }

    private static List<WorkerEndpoint> ParseEndpoints(IReadOnlyList<string> workers)
    {
        var endpoints = new List<WorkerEndpoint>();
        foreach (var text in workers)
        {
            if (!WorkerEndpoint.TryParse(text, out var endpoint, out var problem))
            {
                throw new LlamaDistException(LlamaErrorKind.InvalidArgument, problem, text);
            }
            if (endpoints.Contains(endpoint))
            {
                throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Worker {endpoint} is listed twice; a worker takes one place in the ring.", text);
            }
            endpoints.Add(endpoint);
        }
        return endpoints;
    }

    private static (SplitMode Mode, IReadOnlyList<int>? Counts) ParseSplit(ClusterRequest request)
    {
        if (request.LayerCounts is { Count: > 0 } counts)
        {
            return (SplitMode.Explicit, counts);
        }
        return Enum.TryParse<SplitMode>(request.Split, ignoreCase: true, out var mode) && mode != SplitMode.Explicit
            ? (mode, null)
            : throw new LlamaDistException(LlamaErrorKind.InvalidArgument,
                $"Split '{request.Split}' is not Auto, Even, Memory or a list of layer counts.", nameof(request.Split));
    }

    private static PlanRequest PlanRequestFor(GgufFile file, LlamaConfig config, ClusterRequest request, SplitMode mode, IReadOnlyList<int>? counts)
    {
        long blockBytes = file.Tensors.Where(t => t.Name.StartsWith("blk.", StringComparison.Ordinal)).Sum(t => t.ByteSize);
        long embeddingBytes = file.FindTensor(LlamaTensorNames.TokenEmbedding)?.ByteSize ?? 0;
        long headBytes = (file.FindTensor(LlamaTensorNames.OutputNorm)?.ByteSize ?? 0)
            + (file.FindTensor(LlamaTensorNames.Output)?.ByteSize ?? embeddingBytes);
        return new PlanRequest
        {
            LayerCount = config.LayerCount,
            LayerWeightBytes = blockBytes / Math.Max(1, config.LayerCount),
            EmbeddingBytes = embeddingBytes,
            HeadBytes = headBytes,
            KvBytesPerLayer = 2L * request.PlanContextSize * config.KvWidth * sizeof(ushort),
            Mode = mode,
            ExplicitLayerCounts = counts,
        };
    }
}
