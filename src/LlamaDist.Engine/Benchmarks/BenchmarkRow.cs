namespace LlamaDist.Engine.Benchmarks;

/// <summary>One test's result: tokens per second over the repetitions, as llama-bench reports avg_ts ± stddev_ts.</summary>
public sealed class BenchmarkRow
{
    /// <summary>"pp512" or "tg128".</summary>
    public required string Test { get; init; }
    public required int PromptTokens { get; init; }
    public required int GenerationTokens { get; init; }
    public required int Threads { get; init; }

    /// <summary>Sequences run at the same time; the t/s figures count the tokens of all of them.</summary>
    public int Concurrency { get; init; } = 1;
    public required double AverageTokensPerSecond { get; init; }
    public required double StandardDeviationTokensPerSecond { get; init; }
    public required double AverageMs { get; init; }

    /// <summary>Tokens per second of each repetition, in order.</summary>
    public required double[] Samples { get; init; }

    /// <summary>The largest resident set of this process sampled while a generation test of a local model ran; null otherwise.</summary>
    public long? PeakResidentBytes { get; init; }

    /// <summary>One row from several measurements of the same test: their samples together, the peak of their peaks.</summary>
    internal static BenchmarkRow Combine(IReadOnlyList<BenchmarkRow> rows)
    {
        var samples = rows.SelectMany(row => row.Samples).ToArray();
        var peaks = rows.Where(row => row.PeakResidentBytes is not null).Select(row => row.PeakResidentBytes!.Value).ToList();
        return new BenchmarkRow
        {
            Test = rows[0].Test,
            PromptTokens = rows[0].PromptTokens,
            GenerationTokens = rows[0].GenerationTokens,
            Threads = rows[0].Threads,
            AverageTokensPerSecond = samples.Average(),
            StandardDeviationTokensPerSecond = BenchmarkStatistics.StandardDeviation(samples),
            // Time-weighted: the mean of the rows' means, each weighted by its number of samples.
            AverageMs = rows.Sum(row => row.AverageMs * row.Samples.Length) / samples.Length,
            Samples = samples,
            PeakResidentBytes = peaks.Count > 0 ? peaks.Max() : null,
        };
    }
}
