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
}
