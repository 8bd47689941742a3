namespace LlamaDist.Engine.Benchmarks;

/// <summary>One test measured by both engines: LlamaDist's mean tokens per second over the reference's.</summary>
public sealed class BenchmarkRatio
{
    public required string Test { get; init; }
    public required double OursTokensPerSecond { get; init; }
    public required double ReferenceTokensPerSecond { get; init; }

    /// <summary>Ours / reference: above 1 LlamaDist is faster.</summary>
    public double Ratio => OursTokensPerSecond / ReferenceTokensPerSecond;

    /// <summary>A ratio for every test both lists hold (matched by name: pp512, tg128), in the order of <paramref name="ours"/>.</summary>
    public static IReadOnlyList<BenchmarkRatio> Between(IEnumerable<BenchmarkRow> ours, IEnumerable<BenchmarkRow> reference)
    {
        ArgumentNullException.ThrowIfNull(ours);
        ArgumentNullException.ThrowIfNull(reference);
        var referenceByTest = reference.GroupBy(row => row.Test).ToDictionary(group => group.Key, group => group.First());
        return ours
            .Where(row => referenceByTest.TryGetValue(row.Test, out var other) && other.AverageTokensPerSecond > 0)
            .Select(row => new BenchmarkRatio
            {
                Test = row.Test,
                OursTokensPerSecond = row.AverageTokensPerSecond,
                ReferenceTokensPerSecond = referenceByTest[row.Test].AverageTokensPerSecond,
            })
            .ToList();
    }
}
