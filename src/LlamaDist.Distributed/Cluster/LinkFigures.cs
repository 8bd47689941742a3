namespace LlamaDist.Distributed.Cluster;

/// <summary>
/// A measured network link: the round trip of a small call (software overhead included, so one message costs
/// about half of it) and the bytes per second a large payload moved at.
/// </summary>
public sealed record LinkFigures(double RoundTripSeconds, double BytesPerSecond)
{
    /// <summary>Seconds one message of <paramref name="bytes"/> takes from sender to receiver.</summary>
    public double MessageSeconds(double bytes) => RoundTripSeconds / 2 + bytes / BytesPerSecond;
}
