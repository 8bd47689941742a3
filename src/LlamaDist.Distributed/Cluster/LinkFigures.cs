namespace LlamaDist.Distributed.Cluster;

/// <summary>
/// A measured network link: the round trip of a small call (software overhead included, so one message costs
/// about half of it), the bytes per second a large payload moved at, and the round trip of a small message on an
/// open stream (<see cref="StreamRoundTripSeconds"/>: no call is set up per message, as for the partial sums of
/// a tensor split; the call's round trip where a worker cannot echo on a stream).
/// </summary>
public sealed record LinkFigures(double RoundTripSeconds, double BytesPerSecond)
{
    public double StreamRoundTripSeconds { get; init; } = RoundTripSeconds;

    /// <summary>Seconds one message of <paramref name="bytes"/> takes from sender to receiver.</summary>
    public double MessageSeconds(double bytes) => RoundTripSeconds / 2 + bytes / BytesPerSecond;

    /// <summary>
    /// Seconds one all-reduce of <paramref name="bytes"/> per shard costs the shards: a stream round trip plus the
    /// bytes. In theory a shard waits one way for its peer's partial, but the shards are never quite in step, and
    /// measured (two 1-thread shards, TinyLlama, 44 all-reduces per token, peer sockets blocking) each all-reduce
    /// cost 0.14-0.27 ms on loopback, where a stream echo took 0.07, and 0.43 ms over the emulated 1 Gbit/s link of
    /// 0.3 ms, where it took 0.46.
    /// </summary>
    public double ExchangeSeconds(double bytes) => StreamRoundTripSeconds + bytes / BytesPerSecond;

    /// <summary>The pace of links used together (a ring's, a group's): the largest round trips, the smallest bandwidth.</summary>
    public static LinkFigures Slowest(IReadOnlyCollection<LinkFigures> links)
    {
        ArgumentNullException.ThrowIfNull(links);
        return new LinkFigures(links.Max(link => link.RoundTripSeconds), links.Min(link => link.BytesPerSecond))
        {
            StreamRoundTripSeconds = links.Max(link => link.StreamRoundTripSeconds),
        };
    }
}
