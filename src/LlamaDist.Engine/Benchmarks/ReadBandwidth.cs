namespace LlamaDist.Engine.Benchmarks;

/// <summary>What <see cref="ReadBandwidthProbe"/> measured: the fastest full pass over a buffer larger than the caches.</summary>
public sealed class ReadBandwidth
{
    /// <summary>Bytes per second of the fastest pass.</summary>
    public required double BytesPerSecond { get; init; }

    public required int Threads { get; init; }
    public required long BufferBytes { get; init; }
    public required int Passes { get; init; }

    public double GigabytesPerSecond => BytesPerSecond / 1e9;
}
