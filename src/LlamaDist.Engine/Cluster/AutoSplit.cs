using System.Diagnostics;
using System.Globalization;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Model.Tensor;
using LlamaDist.Core.Tokenization;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Cluster;
using LlamaDist.Distributed.Tensor;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Cluster;

/// <summary>
/// What -Split Auto measures and decides at load time. Each worker's link (round trip, bandwidth) and its
/// weight throughput as it is now are measured (<see cref="LinkMeter"/>); the layer plan is made from those
/// speeds, so a slower or busier worker gets fewer layers; then <see cref="SplitCostModel"/> predicts decode
/// time per token for that layer plan and for a tensor-parallel split (slices in proportion to speed when the
/// workers differ), and the faster one is loaded. A tensor split needs every worker to have its own copy of
/// the model; where one has not, the layer plan is loaded instead and the plan says why.
/// </summary>
internal static class AutoSplit
{
    /// <summary>
    /// A tensor split is chosen only when predicted at least this much faster (its time at most 0.9 of the layer
    /// plan's): it needs every worker's own copy and more traffic, and predictions this close are within the
    /// noise of start-up measurements.
    /// </summary>
    public const double TensorAdvantage = 0.9;

    public sealed record Measurements(IReadOnlyList<LinkMeter.Measurement> Workers)
    {
        /// <summary>The slowest link decides a ring's or a group's pace: the largest round trip, the smallest bandwidth.</summary>
        public LinkFigures Link => new(Workers.Max(w => w.Link.RoundTripSeconds), Workers.Min(w => w.Link.BytesPerSecond));

        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"link {Link.RoundTripSeconds * 1000:0.00} ms round trip, {Link.BytesPerSecond / 1e6:0} MB/s");
    }

    /// <summary>Measures every worker (<see cref="LinkMeter.MeasureAllAsync"/>); null when one cannot be measured (a worker of an older version).</summary>
    public static Measurements? Measure(IReadOnlyList<WorkerClient> clients, CancellationToken cancellationToken)
    {
        try
        {
            var results = LinkMeter.MeasureAllAsync(clients, cancellationToken).GetAwaiter().GetResult();
            return results.All(result => result.BytesPerSecond > 0) ? new Measurements(results) : null;
        }
        catch (WorkerCallException)
        {
            return null;
        }
    }

    /// <summary>The planner's nodes with each worker's throughput as measured now.</summary>
    public static List<PlanNode> WithMeasuredThroughput(List<PlanNode> nodes, Measurements measured) =>
        nodes.Select((node, i) => node with { Throughput = measured.Workers[i].BytesPerSecond }).ToList();

    /// <summary>The decode prediction of a loaded layer plan.</summary>
    public static SplitPrediction PredictLayer(LayerPlan plan, IReadOnlyList<PlanNode> nodes, GgufFile file, LlamaConfig config,
        Measurements measured, string activationEncoding)
    {
        var (layerBytes, headBytes, _) = Sizes(file, config);
        double activationBytes = activationEncoding.ToUpperInvariant() switch { "F32" => 4, "Q8_0" => 34.0 / 32, _ => 2 };
        return SplitCostModel.Layer(nodes.Select(n => n.Throughput).ToArray(), plan.Stages.Select(s => s.Layers.Count).ToArray(),
            layerBytes, headBytes, config.EmbeddingLength, activationBytes, measured.Link);
    }

    /// <summary>
    /// The tensor-parallel prediction with its shares, or null (and why) when the model cannot be divided
    /// between these workers.
    /// </summary>
    public static (SplitPrediction? Prediction, double[] Shares, string? Reason) PredictTensor(IReadOnlyList<PlanNode> nodes, GgufFile file,
        LlamaConfig config, Measurements measured, string activationEncoding)
    {
        var throughputs = nodes.Select(n => n.Throughput).ToArray();
        var shares = SplitCostModel.Shares(throughputs);
        try
        {
            TensorGroupLoader.Plan(file, config, nodes.Count, shares);
        }
        catch (TensorSplitException exception)
        {
            return (null, shares, exception.Message);
        }
        var (_, headBytes, blockBytes) = Sizes(file, config);
        double partialBytes = activationEncoding.ToUpperInvariant() switch { "F32" => 4, "Q8_0" => 34.0 / 32, _ => 2 };
        return (SplitCostModel.Tensor(throughputs, shares, blockBytes, headBytes, config.LayerCount, config.EmbeddingLength, partialBytes,
            measured.Link), shares, null);
    }

    /// <summary>
    /// Loads the tensor split when it is predicted faster (by <see cref="TensorAdvantage"/>); null when it is not, or when a worker has no copy of
    /// the model to slice (then <paramref name="plan"/> records why the layer split was kept).
    /// </summary>
    public static ClusterModel? TryTensor(ClusterRequest request, string path, GgufFile file, LlamaConfig config, ITokenizer tokenizer,
        ModelSummary summary, IReadOnlyList<WorkerClient> clients, LeaseKeeper leases, Stopwatch total, IProgress<ClusterLoadProgress>? progress,
        List<PlanNode> nodes, Measurements measured, SplitPrediction layer, ref string plan, CancellationToken cancellationToken)
    {
        if (clients.Count < 2)
        {
            return null;
        }
        var (tensor, shares, reason) = PredictTensor(nodes, file, config, measured, request.ActivationEncoding);
        if (tensor is null)
        {
            plan = $"{layer} (chosen); Tensor not possible: {reason}; {measured}";
            return null;
        }
        if (tensor.MillisecondsPerToken > TensorAdvantage * layer.MillisecondsPerToken)
        {
            plan = $"{layer} (chosen), {tensor}; {measured}";
            return null;
        }
        try
        {
            var model = TensorClusterLoader.Load(request, path, file, config, tokenizer, summary, clients, leases, total, progress,
                cancellationToken, shares);
            var nodesWithPrediction = model.Nodes;
            for (int i = 0; i < nodesWithPrediction.Count; i++)
            {
                nodesWithPrediction[i].PredictedMsPerToken = tensor.NodeMilliseconds[i];
            }
            model.Plan = $"{tensor} (chosen), {layer}; {measured}";
            return model;
        }
        catch (WorkerCallException exception) when (exception.Failure is WorkerFailure.Rejected or WorkerFailure.ModelMismatch)
        {
            plan = $"{layer} (chosen); {tensor} predicted, but {exception.Endpoint} cannot load a slice: {exception.Message}; {measured}";
            return null;
        }
    }

    /// <summary>Per-layer block bytes, output head bytes (output_norm + output or the tied embedding), all block bytes.</summary>
    private static (double LayerBytes, double HeadBytes, double BlockBytes) Sizes(GgufFile file, LlamaConfig config)
    {
        double blockBytes = file.Tensors.Where(t => t.Name.StartsWith("blk.", StringComparison.Ordinal)).Sum(t => (double)t.ByteSize);
        double embedding = file.FindTensor(LlamaTensorNames.TokenEmbedding)?.ByteSize ?? 0;
        double head = (file.FindTensor(LlamaTensorNames.OutputNorm)?.ByteSize ?? 0) + (file.FindTensor(LlamaTensorNames.Output)?.ByteSize ?? embedding);
        return (blockBytes / Math.Max(1, config.LayerCount), head, blockBytes);
    }
}
