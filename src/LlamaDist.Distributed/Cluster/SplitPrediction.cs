namespace LlamaDist.Distributed.Cluster;

/// <summary>
/// What <see cref="SplitCostModel"/> expects of one way of splitting a model for decoding: the time per token
/// of the whole cluster and of each node's share of it (its compute plus the network time it waits on), in node
/// order.
/// </summary>
public sealed record SplitPrediction(string Split, double MillisecondsPerToken, IReadOnlyList<double> NodeMilliseconds)
{
    public override string ToString() =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Split} {MillisecondsPerToken:0.0} ms/token");
}
