using LlamaDist.Engine.Benchmarks;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Tests.Benchmarks;

/// <summary>
/// The comparison against a real native llama.cpp build: runs only where LLAMADIST_LLAMACPP_BIN names a directory
/// with llama-bench (see docs/BENCHMARKS.md for building one), and skips with that reason elsewhere.
/// </summary>
public sealed class NativeLlamaBenchTests
{
    private static readonly string ModelPath = Path.Combine(AppContext.BaseDirectory, "Models", "llama-2-tiny-random.gguf");

    [SkippableFact]
    public void ComparesWithTheNativeLlamaBenchOnTheSameModel()
    {
        var directory = Environment.GetEnvironmentVariable(LlamaBench.PathVariable);
        Skip.If(string.IsNullOrWhiteSpace(directory), $"{LlamaBench.PathVariable} is not set: no native llama.cpp build to compare with.");
        var llamaBench = LlamaBench.Locate(directory);
        using var model = LocalModel.Load(ModelPath, threads: 1);

        var comparison = model.CompareWithLlamaCpp(
            new BenchmarkRequest { PromptTokens = 16, GenerationTokens = 8, Repetitions = 2, BatchSize = 512 },
            llamaBench, TimeSpan.FromMinutes(2));

        Assert.Equal(["pp16", "tg8"], comparison.Reference.Select(row => row.Test));
        Assert.All(comparison.Reference, row => Assert.Equal(2, row.Samples.Length));
        Assert.All(comparison.Reference, row => Assert.Equal(1, row.Threads));
        Assert.All(comparison.Reference, row => Assert.True(row.AverageTokensPerSecond > 0));
        // llama-bench counts the same tensors: its model size is the engine's weight bytes.
        Assert.Equal(model.WeightBytes, comparison.ReferenceDescription.ModelSize);
        Assert.Equal(["pp16", "tg8"], comparison.Ratios.Select(ratio => ratio.Test));
        Assert.All(comparison.Ratios, ratio => Assert.Equal(
            comparison.Ours.Single(row => row.Test == ratio.Test).AverageTokensPerSecond /
            comparison.Reference.Single(row => row.Test == ratio.Test).AverageTokensPerSecond, ratio.Ratio, 9));
        Assert.NotNull(comparison.Ours.Single(row => row.Test == "tg8").PeakResidentBytes);
    }
}
