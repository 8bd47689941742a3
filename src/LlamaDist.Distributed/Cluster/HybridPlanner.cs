using LlamaDist.Core.Model;

namespace LlamaDist.Distributed.Cluster;

/// <summary>A hybrid split as planned: groups of worker indexes in stage order, each group's layers and its members' shares, and the prediction.</summary>
public sealed record HybridPlan(IReadOnlyList<IReadOnlyList<int>> Groups, IReadOnlyList<LayerRange> Ranges,
    IReadOnlyList<IReadOnlyList<double>> Shares, SplitPrediction Prediction)
{
    /// <summary>"[0 1] 0-10, [2] 11-21": the grouping for the plan text.</summary>
    public string Describe(Func<int, string> name) => string.Join(", ", Groups.Select((group, g) =>
        $"[{string.Join(" ", group.Select(name))}] {Ranges[g].Start}-{Ranges[g].EndExclusive - 1}"));
}

/// <summary>
/// Plans a hybrid split from measured figures (each worker's throughput and link) and chooses between the layer,
/// tensor and hybrid predictions. Pure, so -Split Auto's choice is testable with given figures.
/// </summary>
public static class HybridPlanner
{
    /// <summary>
    /// A non-layer split is chosen only when predicted at least this much faster than the layer plan (its time at
    /// most 0.95 of it): it needs every worker's own copy and more traffic, and a wrong tensor choice on a slow link
    /// costs far more than a wrong layer choice on a fast one. The margin guards against the noise of start-up
    /// measurements only; where a tensor split loses badly (a slow or distant link) it is predicted several times
    /// slower, far outside any margin. At 0.9 two 1-thread workers on loopback kept the layer split with the tensor
    /// split predicted at 93% of its time (36.3 against 39.0 ms/token), where the tensor split measured 34 ms/token
    /// and the layer split 42.
    /// </summary>
    public const double Advantage = 0.95;

    /// <summary>The figures of the model a plan is made for.</summary>
    public sealed record ModelFigures(int LayerCount, double LayerBytes, double HeadBytes, int EmbeddingLength, double ActivationBytes,
        double PartialBytes);

    /// <summary>
    /// The prediction of one grouping: layers as <paramref name="ranges"/> gives them, else in proportion to each
    /// group's summed throughput; shares inside a group by <see cref="SplitCostModel.Shares"/> (equal ones with
    /// <paramref name="equalShares"/>); each group's link its slowest member's.
    /// </summary>
    public static HybridPlan Predict(IReadOnlyList<IReadOnlyList<int>> groups, IReadOnlyList<double> throughputs, IReadOnlyList<LinkFigures> links,
        ModelFigures model, IReadOnlyList<LayerRange>? ranges = null, bool equalShares = false)
    {
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentNullException.ThrowIfNull(throughputs);
        ArgumentNullException.ThrowIfNull(links);
        ArgumentNullException.ThrowIfNull(model);
        ranges ??= HybridGrouping.Ranges(model.LayerCount, groups.Select(group => group.Sum(member => throughputs[member])).ToArray());
        var shares = groups.Select(group => (IReadOnlyList<double>)(equalShares
            ? Enumerable.Repeat(1.0 / group.Count, group.Count).ToArray()
            : SplitCostModel.Shares(group.Select(member => throughputs[member]).ToArray()))).ToArray();
        var stages = groups.Select((group, g) => new SplitCostModel.HybridStage(
            group.Select(member => throughputs[member]).ToArray(), shares[g], ranges[g].Count,
            LinkFigures.Slowest(group.Select(member => links[member]).ToArray()))).ToArray();
        var prediction = SplitCostModel.Hybrid(stages, model.LayerBytes, model.HeadBytes, model.EmbeddingLength, model.ActivationBytes, model.PartialBytes);
        return new HybridPlan(groups, ranges, shares, prediction);
    }

    /// <summary>
    /// The fastest of <see cref="HybridGrouping.Candidates"/> whose every group <paramref name="canSlice"/>
    /// accepts (member count, shares: whether the model's heads and units divide so) and whose groups each get a
    /// layer; null when there is none (fewer than 3 workers, or no grouping fits the model).
    /// </summary>
    public static HybridPlan? Best(IReadOnlyList<double> throughputs, IReadOnlyList<LinkFigures> links, ModelFigures model,
        Func<int, IReadOnlyList<double>, bool> canSlice)
    {
        ArgumentNullException.ThrowIfNull(canSlice);
        HybridPlan? best = null;
        foreach (var groups in HybridGrouping.Candidates(links))
        {
            if (groups.Count > model.LayerCount)
            {
                continue;
            }
            var plan = Predict(groups, throughputs, links, model);
            if (!groups.Select((group, g) => canSlice(group.Count, plan.Shares[g])).All(fits => fits))
            {
                continue;
            }
            if (best is null || plan.Prediction.MillisecondsPerToken < best.Prediction.MillisecondsPerToken)
            {
                best = plan;
            }
        }
        return best;
    }

    /// <summary>
    /// What -Split Auto loads: the layer plan unless the faster of tensor and hybrid is predicted to take at most
    /// <see cref="Advantage"/> of its time (tensor before hybrid on a tie).
    /// </summary>
    public static SplitPrediction Choose(SplitPrediction layer, SplitPrediction? tensor, SplitPrediction? hybrid)
    {
        ArgumentNullException.ThrowIfNull(layer);
        SplitPrediction? other = tensor is null ? hybrid
            : hybrid is null ? tensor
            : hybrid.MillisecondsPerToken < tensor.MillisecondsPerToken ? hybrid : tensor;
        return other is not null && other.MillisecondsPerToken <= Advantage * layer.MillisecondsPerToken ? other : layer;
    }
}
