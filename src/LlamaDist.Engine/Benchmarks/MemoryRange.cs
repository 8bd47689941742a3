namespace LlamaDist.Engine.Benchmarks;

/// <summary>Bytes of this process's memory for <see cref="ReadBandwidthProbe.MeasureRanges"/> to read: the first byte's address and the length.</summary>
public readonly record struct MemoryRange(nint Start, long Bytes);
