namespace LlamaDist.Engine.Benchmarks;

/// <summary>What to measure, llama-bench style: a prompt test (pp), a generation test (tg), or both.</summary>
public sealed class BenchmarkRequest
{
    /// <summary>Tokens of the prompt test (pp&lt;N&gt;); 0 skips it.</summary>
    public int PromptTokens { get; init; } = 512;

    /// <summary>Tokens of the generation test (tg&lt;N&gt;); 0 skips it.</summary>
    public int GenerationTokens { get; init; } = 128;

    /// <summary>Measured runs of each test, after one warm-up run.</summary>
    public int Repetitions { get; init; } = 5;

    /// <summary>Prompt tokens evaluated per batch (llama-bench's -b).</summary>
    public int BatchSize { get; init; } = 512;

    /// <summary>
    /// Sequences run at the same time, each with its own KV cache (llama-batched-bench's parallel prompts): every
    /// one evaluates the test's tokens, and t/s counts the tokens of all of them.
    /// </summary>
    public int Concurrency { get; init; } = 1;

    /// <summary>Most sequences a benchmark runs at once.</summary>
    public const int MaxConcurrency = 64;

    /// <summary>Whether each test runs once untimed first; rounds that alternate with another engine warm up only once.</summary>
    internal bool WarmUp { get; init; } = true;
}
