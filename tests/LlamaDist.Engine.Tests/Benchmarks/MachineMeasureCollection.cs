namespace LlamaDist.Engine.Tests.Benchmarks;

/// <summary>
/// The resident memory sampler reads the whole process's resident set, and the bandwidth probe times the cores:
/// both are only meaningful while no other test allocates, frees or computes beside them. (A parallel run once
/// freed 62 MB elsewhere while the sampler's test touched its 64 MB block, so the peak hardly moved.)
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MachineMeasureCollection
{
    public const string Name = "machine measures";
}
