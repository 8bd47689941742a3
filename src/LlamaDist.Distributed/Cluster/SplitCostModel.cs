namespace LlamaDist.Distributed.Cluster;

/// <summary>
/// Predicts the decode time per token of a layer split and of a tensor-parallel split from what can be measured
/// before loading: each node's weight throughput (bytes/s its threads stream through a matrix-vector product;
/// decode is memory bound) and the link (round trip and bandwidth). Pure, so the choice it drives is testable.
/// <code>
/// layer  (pipeline, stages in turn):  Σ_i (layers_i × layer bytes + head_i) / B_i   + (N + 1) hops × message(n_embd × activation bytes)
/// tensor (all shards at once):        max_i share_i × (block bytes + head bytes) / B_i
///                                     + 2 n_layer all-reduces × exchange((N - 1) × n_embd × partial bytes)
///                                     + one round trip coordinator ↔ shards
/// hybrid (groups as pipeline stages): Σ_g [ max_i∈g share_i × (layers_g × layer bytes + head_g) / B_i
///                                           + 2 layers_g all-reduces × exchange((|g| - 1) × n_embd × partial bytes)
///                                           + one round trip coordinator ↔ group
///                                           + the hidden state in (g > 0) and out (g not last): n_embd × activation bytes / bandwidth ]
/// </code>
/// A message costs half a round trip plus its bytes over the bandwidth (<see cref="LinkFigures.MessageSeconds"/>);
/// an all-reduce a round trip of a stream message plus its bytes (<see cref="LinkFigures.ExchangeSeconds"/>), each
/// shard pushing its partial to N - 1 peers through its own link. The tensor split's throughputs are the ones
/// measured with every worker at once (the shards compute together). The embedding lookup (one row per token) is
/// left out of all three.
/// </summary>
public static class SplitCostModel
{
    /// <param name="throughputs">Bytes per second of each node in ring order.</param>
    /// <param name="layerCounts">Layers of each stage (the plan), the last stage also running the head.</param>
    public static SplitPrediction Layer(IReadOnlyList<double> throughputs, IReadOnlyList<int> layerCounts, double layerBytes,
        double headBytes, int embeddingLength, double activationBytes, LinkFigures link)
    {
        Validate(throughputs, link);
        if (layerCounts.Count != throughputs.Count)
        {
            throw new ArgumentException($"{layerCounts.Count} layer counts for {throughputs.Count} nodes.", nameof(layerCounts));
        }
        double hop = link.MessageSeconds(embeddingLength * activationBytes);
        var nodes = new double[throughputs.Count];
        double total = 0;
        for (int i = 0; i < nodes.Length; i++)
        {
            double bytes = layerCounts[i] * layerBytes + (i == nodes.Length - 1 ? headBytes : 0);
            double seconds = bytes / throughputs[i] + hop + (i == nodes.Length - 1 ? link.RoundTripSeconds / 2 : 0);
            nodes[i] = seconds * 1000;
            total += seconds;
        }
        return new SplitPrediction("Layer", total * 1000, nodes);
    }

    /// <param name="shares">Each node's share of heads, feed-forward units and vocabulary (summing to 1).</param>
    public static SplitPrediction Tensor(IReadOnlyList<double> throughputs, IReadOnlyList<double> shares, double blockBytes,
        double headBytes, int layerCount, int embeddingLength, double partialBytes, LinkFigures link)
    {
        Validate(throughputs, link);
        if (shares.Count != throughputs.Count)
        {
            throw new ArgumentException($"{shares.Count} shares for {throughputs.Count} nodes.", nameof(shares));
        }
        int count = throughputs.Count;
        double reduce = count == 1 ? 0 : 2.0 * layerCount * link.ExchangeSeconds((count - 1) * embeddingLength * partialBytes);
        var compute = new double[count];
        for (int i = 0; i < count; i++)
        {
            compute[i] = shares[i] * (blockBytes + headBytes) / throughputs[i];
        }
        double slowest = compute.Max();
        double total = slowest + reduce + link.RoundTripSeconds;
        // Every shard waits for the slowest at each reduction, so each one's token takes the whole time.
        return new SplitPrediction("Tensor", total * 1000, compute.Select(_ => total * 1000).ToArray());
    }

    /// <summary>
    /// One stage of a hybrid split: its members' throughputs and shares (as <see cref="Tensor"/> takes them), its
    /// layers, and its link (the slowest of its members': it carries the all-reduces and the coordinator's hops).
    /// </summary>
    public sealed record HybridStage(IReadOnlyList<double> Throughputs, IReadOnlyList<double> Shares, int Layers, LinkFigures Link);

    /// <summary>
    /// The hybrid prediction: each group runs its layers tensor-parallel, the groups in turn, the coordinator
    /// relaying each group's hidden state to the next. Node times are in group order, members in order: every
    /// member of a group gets its group's whole stage time (members wait for each other at each reduction).
    /// </summary>
    public static SplitPrediction Hybrid(IReadOnlyList<HybridStage> stages, double layerBytes, double headBytes, int embeddingLength,
        double activationBytes, double partialBytes)
    {
        ArgumentNullException.ThrowIfNull(stages);
        if (stages.Count < 2)
        {
            throw new ArgumentException("A hybrid split has at least two groups.", nameof(stages));
        }
        var nodes = new List<double>();
        double total = 0;
        for (int g = 0; g < stages.Count; g++)
        {
            var stage = stages[g];
            Validate(stage.Throughputs, stage.Link);
            if (stage.Shares.Count != stage.Throughputs.Count || stage.Layers <= 0)
            {
                throw new ArgumentException($"Group {g} needs one share per member and at least one layer.", nameof(stages));
            }
            int members = stage.Throughputs.Count;
            bool last = g == stages.Count - 1;
            double bytes = stage.Layers * layerBytes + (last ? headBytes : 0);
            double compute = Enumerable.Range(0, members).Max(i => stage.Shares[i] * bytes / stage.Throughputs[i]);
            double reduce = members == 1 ? 0 : 2.0 * stage.Layers * stage.Link.ExchangeSeconds((members - 1) * embeddingLength * partialBytes);
            double hidden = embeddingLength * activationBytes / stage.Link.BytesPerSecond;
            double seconds = compute + reduce + stage.Link.RoundTripSeconds + (g > 0 ? hidden : 0) + (last ? 0 : hidden);
            nodes.AddRange(Enumerable.Repeat(seconds * 1000, members));
            total += seconds;
        }
        return new SplitPrediction("Hybrid", total * 1000, nodes);
    }

    /// <summary>The split with the smallest predicted time per token (the first on a tie: layer before tensor).</summary>
    public static SplitPrediction Best(params SplitPrediction[] candidates) =>
        candidates.Aggregate((best, next) => next.MillisecondsPerToken < best.MillisecondsPerToken ? next : best);

    /// <summary>Shares proportional to <paramref name="throughputs"/>, or equal ones when the fastest is less than <paramref name="unevenRatio"/> times the slowest.</summary>
    public static double[] Shares(IReadOnlyList<double> throughputs, double unevenRatio = 1.25)
    {
        if (throughputs.Count == 0)
        {
            return [];
        }
        bool uneven = throughputs.Max() / throughputs.Min() >= unevenRatio;
        double total = uneven ? throughputs.Sum() : throughputs.Count;
        return throughputs.Select(speed => (uneven ? speed : 1.0) / total).ToArray();
    }

    private static void Validate(IReadOnlyList<double> throughputs, LinkFigures link)
    {
        ArgumentNullException.ThrowIfNull(throughputs);
        ArgumentNullException.ThrowIfNull(link);
        if (throughputs.Count == 0 || throughputs.Any(speed => !double.IsFinite(speed) || speed <= 0))
        {
            throw new ArgumentException("Every node needs a positive measured throughput.", nameof(throughputs));
        }
        if (!(link.RoundTripSeconds >= 0) || !(link.BytesPerSecond > 0))
        {
            throw new ArgumentException("The link needs a round trip of at least 0 and a positive bandwidth.", nameof(link));
        }
    }
}
