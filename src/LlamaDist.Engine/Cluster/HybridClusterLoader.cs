using System.Diagnostics;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Model.Tensor;
using LlamaDist.Core.Tokenization;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Cluster;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Ring;
using LlamaDist.Distributed.Tensor;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Cluster;

/// <summary>
/// The hybrid form of <see cref="ClusterLoader"/> (-Split Hybrid): the workers are divided into tensor-parallel
/// groups (<see cref="ClusterRequest.TensorGroupSize"/>, or the grouping -Split Auto chose), each group takes a
/// contiguous layer range in proportion to its number of workers (to its measured summed throughput under
/// -Split Auto), and inside a group the range is sliced
/// between the members as -Split Tensor slices the whole model. Every worker reads its slice from its own copy
/// of the GGUF, verified by the hash of all the model's tensors. Groups already loaded are released again when
/// a later one fails.
/// </summary>
internal static class HybridClusterLoader
{
    public static bool IsHybrid(string? split) => string.Equals(split, "Hybrid", StringComparison.OrdinalIgnoreCase);

    /// <summary>Groups of two, in worker order, the last taking what is left: pairs of fast-linked machines.</summary>
    public const int DefaultGroupSize = 2;

    /// <summary>The groups -TensorGroupSize describes (pairs by default) as indexes into the worker list.</summary>
    public static IReadOnlyList<IReadOnlyList<int>> GroupsOf(ClusterRequest request, int workerCount)
    {
        try
        {
            return HybridGrouping.FromSizes(workerCount, request.TensorGroupSize is { Count: > 0 } sizes ? sizes : [DefaultGroupSize]);
        }
        catch (PlanningException exception)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, exception.Message, nameof(request.TensorGroupSize), exception);
        }
    }

    /// <summary>Each group's layer range, in proportion to its members' summed <paramref name="throughputs"/>.</summary>
    public static IReadOnlyList<LayerRange> RangesOf(IReadOnlyList<IReadOnlyList<int>> groups, IReadOnlyList<double> throughputs, LlamaConfig config)
    {
        try
        {
            return HybridGrouping.Ranges(config.LayerCount, groups.Select(group => group.Sum(member => throughputs[member])).ToArray());
        }
        catch (PlanningException exception)
        {
            throw new LlamaDistException(LlamaErrorKind.PlanningFailed, exception.Message, nameof(ClusterRequest.TensorGroupSize), exception);
        }
    }

    /// <summary>
    /// Loads the groups. <paramref name="groups"/>, <paramref name="shares"/> (per group, per member) and
    /// <paramref name="ranges"/> come from -Split Auto (measured speeds); otherwise -TensorGroupSize decides, with
    /// equal slices and layers in proportion to each group's number of workers.
    /// </summary>
    public static ClusterModel Load(ClusterRequest request, string path, GgufFile file, LlamaConfig config, ITokenizer tokenizer,
        ModelSummary summary, IReadOnlyList<WorkerClient> clients, LeaseKeeper leases, Stopwatch total,
        IProgress<ClusterLoadProgress>? progress, CancellationToken cancellationToken,
        IReadOnlyList<IReadOnlyList<int>>? groups = null, IReadOnlyList<IReadOnlyList<double>>? shares = null,
        IReadOnlyList<LayerRange>? ranges = null, string split = "Hybrid")
    {
        if (request.IncludeLocal)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument,
                "-IncludeLocal runs a layer range in this process; a Hybrid split runs on workers only. Start a worker here instead.", nameof(request.IncludeLocal));
        }
        var reduction = TensorClusterLoader.ReductionEncodingOf(request.ActivationEncoding);
        var hidden = HiddenEncodingOf(request.ActivationEncoding);
        if (!PartialSumCodec.Supports(reduction, config.EmbeddingLength))
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument,
                $"Partial sums of width {config.EmbeddingLength} cannot travel as {request.ActivationEncoding}; use F16 or F32.", nameof(request.ActivationEncoding));
        }
        groups ??= GroupsOf(request, clients.Count);
        // As -Split Tensor gives equal slices, -Split Hybrid counts every worker as equally fast: layers by group size.
        ranges ??= RangesOf(groups, Enumerable.Repeat(1.0, clients.Count).ToArray(), config);
        for (int g = 0; g < groups.Count; g++)
        {
            try
            {
                TensorGroupLoader.Plan(file, config, groups[g].Count, shares?[g]);
            }
            catch (TensorSplitException exception)
            {
                throw new LlamaDistException(LlamaErrorKind.PlanningFailed, $"Tensor group {g + 1}: {exception.Message}", nameof(request.TensorGroupSize), exception);
            }
        }

        // A grouping given by the user is measured too, so the plan shows what it predicts beside what is observed
        // (-Split Auto has shown its predictions already).
        var measured = shares is null ? AutoSplit.Measure(clients, cancellationToken) : null;
        progress?.Report(new ClusterLoadProgress("Loading hybrid tensor groups", "hashing the model", 0));
        var clock = Stopwatch.StartNew();
        string modelHash = TensorGroupLoader.ModelHash(file, config, cancellationToken);
        progress?.Report(new ClusterLoadProgress("Loading hybrid tensor groups", Describe(groups, ranges, clients), 0.5));
        var loaded = new IReadOnlyList<TensorShard>?[groups.Count];
        try
        {
            Task.WhenAll(groups.Select(async (group, g) =>
            {
                var members = group.Select(member => clients[member]).ToArray();
                loaded[g] = await TensorGroupLoader.LoadAsync(members, file, config, path, modelHash, shares?[g], cancellationToken, ranges[g])
                    .ConfigureAwait(false);
            })).GetAwaiter().GetResult();
        }
        catch
        {
            TensorGroupLoader.ReleaseAsync(loaded.Where(group => group is not null).SelectMany(group => group!)).GetAwaiter().GetResult();
            throw;
        }
        double loadMs = clock.Elapsed.TotalMilliseconds;
        var stages = loaded.Select(group => group!).ToArray();
        var shards = stages.SelectMany(group => group).ToArray();
        var nodes = shards.Select(shard => TensorClusterLoader.Node(shard, config, loadMs)).ToArray();
        progress?.Report(new ClusterLoadProgress("Cluster ready", $"{stages.Length} tensor groups of {string.Join(", ", stages.Select(g => g.Count))}", 1));
        var model = new ClusterModel(file, config, tokenizer, summary, topology: null, nodes, localThreads: null, hidden,
            split, total.Elapsed.TotalMilliseconds, leases, request, shards, reduction, stages);
        if (measured is not null)
        {
            var plan = HybridPlanner.Predict(groups, measured.Workers.Select(w => w.BytesPerSecond).ToArray(),
                measured.Workers.Select(w => w.Link).ToArray(), AutoSplit.HybridFigures(file, config, request.ActivationEncoding), ranges, equalShares: true);
            for (int i = 0; i < nodes.Length; i++)
            {
                nodes[i].PredictedMsPerToken = plan.Prediction.NodeMilliseconds[i];
            }
            model.Plan = $"{plan.Prediction} (chosen) ({plan.Describe(i => clients[i].Endpoint.ToString())}); {measured}";
        }
        return model;
    }

    /// <summary>"[a, b] layers 0-1; [c] layers 2-3" for progress and the plan.</summary>
    public static string Describe(IReadOnlyList<IReadOnlyList<int>> groups, IReadOnlyList<LayerRange> ranges, IReadOnlyList<WorkerClient> clients) =>
        string.Join("; ", groups.Select((group, g) =>
            $"[{string.Join(", ", group.Select(member => clients[member].Endpoint))}] layers {ranges[g].Start}-{ranges[g].EndExclusive - 1}"));

    private static ActivationEncoding HiddenEncodingOf(string encoding) => encoding.ToUpperInvariant() switch
    {
        "F16" => ActivationEncoding.F16,
        "Q8_0" => ActivationEncoding.Q80,
        _ => ActivationEncoding.F32,
    };
}
