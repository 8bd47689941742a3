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
/// time per token for that layer plan, for a tensor-parallel split (slices in proportion to speed when the
/// workers differ) and, with three or more workers, for hybrid groupings (<see cref="HybridPlanner"/>: workers with
/// the fastest links grouped together), and the fastest is loaded. Tensor and hybrid splits need every worker to
/// have its own copy of the model; where one has not, the layer plan is loaded instead and the plan says why.
/// </summary>
internal static class AutoSplit
{
    public sealed record Measurements(IReadOnlyList<LinkMeter.Measurement> Workers)
    {
        /// <summary>The slowest link decides a ring's or a group's pace: the largest round trip, the smallest bandwidth.</summary>
        public LinkFigures Link => LinkFigures.Slowest(Workers.Select(w => w.Link).ToArray());

        /// <summary>True when the workers were also measured all at once (see <see cref="LinkMeter.Measurement"/>).</summary>
        public bool Together { get; init; }

        public override string ToString()
        {
            string link = string.Create(CultureInfo.InvariantCulture,
                $"link {Link.RoundTripSeconds * 1000:0.00} ms round trip ({Link.StreamRoundTripSeconds * 1000:0.00} on a stream), {Link.BytesPerSecond / 1e6:0} MB/s");
            string together = Together ? $" alone, {Rates(w => w.ConcurrentBytesPerSecond)} together" : "";
            return $"{link}; workers stream {Rates(w => w.BytesPerSecond)} GB/s{together}";
        }

        private string Rates(Func<LinkMeter.Measurement, double> rate) =>
            string.Join(", ", Workers.Select(w => (rate(w) / 1e9).ToString("0.0", CultureInfo.InvariantCulture)));
    }

    /// <summary>
    /// Measures every worker (<see cref="LinkMeter.MeasureAllAsync"/>), with <paramref name="together"/> (Auto
    /// choosing a split) over the sustained working set and also all at once, which a tensor split's prediction
    /// needs; null when one cannot be measured (a worker of an older version).
    /// </summary>
    public static Measurements? Measure(IReadOnlyList<WorkerClient> clients, CancellationToken cancellationToken, bool together = false)
    {
        try
        {
            var results = LinkMeter.MeasureAllAsync(clients, cancellationToken, together).GetAwaiter().GetResult();
            return results.All(result => result.BytesPerSecond > 0 && result.ConcurrentBytesPerSecond > 0)
                ? new Measurements(results) { Together = together && clients.Count > 1 }
                : null;
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
    /// between these workers. The shards compute at the same time, so their speeds are the ones measured with
    /// every worker at once: two shards on one machine share its cores and memory bandwidth.
    /// </summary>
    public static (SplitPrediction? Prediction, double[] Shares, string? Reason) PredictTensor(IReadOnlyList<PlanNode> nodes, GgufFile file,
        LlamaConfig config, Measurements measured, string activationEncoding)
    {
        var throughputs = measured.Together
            ? measured.Workers.Select(w => w.ConcurrentBytesPerSecond).ToArray()
            : nodes.Select(n => n.Throughput).ToArray();
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
    /// The fastest hybrid grouping of these workers by their measured links and speeds, or null (fewer than 3
    /// workers, or no grouping whose groups can each slice the model).
    /// </summary>
    public static HybridPlan? PredictHybrid(IReadOnlyList<PlanNode> nodes, GgufFile file, LlamaConfig config, Measurements measured,
        string activationEncoding)
    {
        if (nodes.Count < 3)
        {
            return null;
        }
        var model = HybridFigures(file, config, activationEncoding);
        return HybridPlanner.Best(nodes.Select(n => n.Throughput).ToArray(), measured.Workers.Select(w => w.Link).ToArray(), model,
            (members, shares) =>
            {
                try
                {
                    TensorGroupLoader.Plan(file, config, members, shares);
                    return true;
                }
                catch (TensorSplitException)
                {
                    return false;
                }
            });
    }

    /// <summary>
    /// Loads the tensor or hybrid split when the faster of them is predicted faster than the layer plan (by
    /// <see cref="HybridPlanner.Advantage"/>); null when neither is, or when a worker has no copy of the model to
    /// slice (then <paramref name="plan"/> records why the layer split was kept).
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
        var hybrid = PredictHybrid(nodes, file, config, measured, request.ActivationEncoding);
        var chosen = HybridPlanner.Choose(layer, tensor, hybrid?.Prediction);
        string hybridText = hybrid is null ? "" : $"{hybrid.Prediction} ({hybrid.Describe(i => clients[i].Endpoint.ToString())})";
        var candidates = new List<(SplitPrediction Prediction, string Text)> { (layer, layer.ToString()) };
        if (tensor is not null)
        {
            candidates.Add((tensor, tensor.ToString()));
        }
        if (hybrid is not null)
        {
            candidates.Add((hybrid.Prediction, hybridText));
        }
        string notPossible = tensor is null ? $"; Tensor not possible: {reason}" : "";
        string Text(SplitPrediction winner) =>
            string.Join(", ", candidates.OrderBy(c => c.Prediction == winner ? 0 : 1).Select(c => c.Prediction == winner ? $"{c.Text} (chosen)" : c.Text))
            + $"{notPossible}; {measured}";
        plan = Text(layer);
        if (chosen == layer)
        {
            return null;
        }
        try
        {
            ClusterModel model = chosen == tensor
                ? TensorClusterLoader.Load(request, path, file, config, tokenizer, summary, clients, leases, total, progress, cancellationToken, shares)
                : HybridClusterLoader.Load(request, path, file, config, tokenizer, summary, clients, leases, total, progress, cancellationToken,
                    hybrid!.Groups, hybrid.Shares, hybrid.Ranges);
            for (int i = 0; i < model.Nodes.Count; i++)
            {
                model.Nodes[i].PredictedMsPerToken = chosen.NodeMilliseconds[i];
            }
            model.Plan = Text(chosen);
            return model;
        }
        catch (WorkerCallException exception) when (exception.Failure is WorkerFailure.Rejected or WorkerFailure.ModelMismatch)
        {
            plan = $"{layer} (chosen); {chosen} predicted, but {exception.Endpoint} cannot load a slice: {exception.Message}; {measured}";
            return null;
        }
    }

    /// <summary>What the hybrid prediction needs of the model; hidden states and partial sums travel in the same encoding.</summary>
    public static HybridPlanner.ModelFigures HybridFigures(GgufFile file, LlamaConfig config, string activationEncoding)
    {
        var (layerBytes, headBytes, _) = Sizes(file, config);
        double valueBytes = activationEncoding.ToUpperInvariant() switch { "F32" => 4, "Q8_0" => 34.0 / 32, _ => 2 };
        return new HybridPlanner.ModelFigures(config.LayerCount, layerBytes, headBytes, config.EmbeddingLength, valueBytes, valueBytes);
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
