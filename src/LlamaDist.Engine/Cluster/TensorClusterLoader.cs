using System.Diagnostics;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Model.Tensor;
using LlamaDist.Core.Tokenization;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Ring;
using LlamaDist.Distributed.Tensor;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Cluster;

/// <summary>
/// The tensor-parallel form of <see cref="ClusterLoader"/> (-Split Tensor): every worker gets a slice of every
/// layer (its KV heads with their query heads, feed-forward units and vocabulary rows), read from its own copy
/// of the GGUF, verified by the hash of all the model's tensors; slices are never streamed. -Split Tensor gives
/// every worker an equal slice; the speed-aware planner passes shares in proportion to measured speeds instead.
/// </summary>
internal static class TensorClusterLoader
{
    public static bool IsTensor(string? split) => string.Equals(split, "Tensor", StringComparison.OrdinalIgnoreCase);

    public static ClusterModel Load(ClusterRequest request, string path, GgufFile file, LlamaConfig config, ITokenizer tokenizer,
        ModelSummary summary, IReadOnlyList<WorkerClient> clients, LeaseKeeper leases, Stopwatch total,
        IProgress<ClusterLoadProgress>? progress, CancellationToken cancellationToken, IReadOnlyList<double>? shares = null,
        string split = "Tensor")
    {
        if (request.IncludeLocal)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument,
                "-IncludeLocal runs a layer range in this process; a Tensor split runs on workers only. Start a worker here instead.", nameof(request.IncludeLocal));
        }
        var reduction = ReductionEncodingOf(request.ActivationEncoding);
        try
        {
            TensorGroupLoader.Plan(file, config, clients.Count, shares);
        }
        catch (TensorSplitException exception)
        {
            throw new LlamaDistException(LlamaErrorKind.PlanningFailed, exception.Message, nameof(request.Split), exception);
        }
        if (!PartialSumCodec.Supports(reduction, config.EmbeddingLength))
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument,
                $"Partial sums of width {config.EmbeddingLength} cannot travel as {request.ActivationEncoding}; use F16 or F32.", nameof(request.ActivationEncoding));
        }

        progress?.Report(new ClusterLoadProgress("Loading tensor-parallel shards", "hashing the model", 0));
        var clock = Stopwatch.StartNew();
        string modelHash = TensorGroupLoader.ModelHash(file, config, cancellationToken);
        progress?.Report(new ClusterLoadProgress("Loading tensor-parallel shards", string.Join(", ", clients.Select(c => c.Endpoint)), 0.5));
        var shards = TensorGroupLoader.LoadAsync(clients, file, config, path, modelHash, shares, cancellationToken).GetAwaiter().GetResult();
        double loadMs = clock.Elapsed.TotalMilliseconds;
        var nodes = shards.Select(shard => Node(shard, config, loadMs)).ToArray();
        progress?.Report(new ClusterLoadProgress("Cluster ready", $"{shards.Count} tensor-parallel shards", 1));
        return new ClusterModel(file, config, tokenizer, summary, topology: null, nodes, localThreads: null, ActivationEncoding.F32,
            split, total.Elapsed.TotalMilliseconds, leases, request, shards, reduction);
    }

    /// <summary>F32 (exact, the default), F16 (half the bytes, 2^-11 relative rounding) or Q8_0 (a quarter, within about 1/220 of each block's largest value).</summary>
    internal static ReductionEncoding ReductionEncodingOf(string encoding) => encoding.ToUpperInvariant() switch
    {
        "F32" => ReductionEncoding.F32,
        "F16" => ReductionEncoding.F16,
        "Q8_0" => ReductionEncoding.Q80,
        _ => throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Partial sums travel as F16, F32 or Q8_0, not '{encoding}'.", "ActivationEncoding"),
    };

    /// <summary>
    /// The node a shard is: "all: KV heads 0-0, FFN 0-351, vocab 0-15999" for -Split Tensor; in a hybrid split its
    /// group's layers first ("0-1: …"), with the vocabulary rows only in the last group (the others hand on a hidden state).
    /// </summary>
    internal static ClusterNode Node(TensorShard shard, LlamaConfig config, double loadMs)
    {
        var client = shard.Worker;
        var slice = shard.Slice;
        var capabilities = client.Handshake.Capabilities;
        var range = shard.Range ?? LayerRange.All(config.LayerCount);
        string layers = shard.Range is null ? "all" : $"{range.Start}-{range.EndExclusive - 1}";
        string vocabulary = range.IncludesOutput(config.LayerCount)
            ? $", vocab {slice.VocabularyStart}-{slice.VocabularyStart + slice.VocabularyCount - 1}"
            : "";
        return new ClusterNode
        {
            Endpoint = client.Endpoint.ToString(), WorkerId = client.WorkerId, Name = client.Handshake.Worker.HostName,
            LayerStart = range.Start, LayerEnd = range.EndExclusive,
            Layers = $"{layers}: KV heads {slice.KvHeadStart}-{slice.KvHeadStart + slice.KvHeadCount - 1}, " +
                $"FFN {slice.FeedForwardStart}-{slice.FeedForwardStart + slice.FeedForwardCount - 1}{vocabulary}",
            WeightBytes = shard.SliceBytes, Backend = capabilities.Backend.ToString().ToUpperInvariant(), Threads = (int)capabilities.Threads,
            BytesPerSecond = capabilities.BytesPerSecond, FreeMemoryBytes = (long)capabilities.FreeMemoryBytes, LoadMs = loadMs,
            WeightSource = "model file", BytesStreamed = 0, RangeHash = shard.ShardId,
        };
    }
}
