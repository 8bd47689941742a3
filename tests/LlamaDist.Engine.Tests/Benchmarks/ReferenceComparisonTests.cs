using LlamaDist.Engine.Benchmarks;
using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Tests.Benchmarks;

/// <summary>The alternation of LlamaDist and llama-bench rounds and the rows and ratios made of them, with scripted engines.</summary>
public sealed class ReferenceComparisonTests
{
    private static readonly BenchmarkRequest Request = new() { PromptTokens = 128, GenerationTokens = 32, Repetitions = 3, BatchSize = 512 };

    private static BenchmarkRow Row(string test, int prompt, int generation, double tokensPerSecond, long? peak = null) => new()
    {
        Test = test,
        PromptTokens = prompt,
        GenerationTokens = generation,
        Threads = 2,
        AverageTokensPerSecond = tokensPerSecond,
        StandardDeviationTokensPerSecond = 0,
        AverageMs = (prompt + generation) * 1000.0 / tokensPerSecond,
        Samples = [tokensPerSecond],
        PeakResidentBytes = peak,
    };

    private static LlamaBenchRecord Record(string test, int prompt, int generation, double tokensPerSecond) => new()
    {
        Test = test,
        PromptTokens = prompt,
        GenerationTokens = generation,
        Threads = 2,
        AverageTokensPerSecond = tokensPerSecond,
        StandardDeviationTokensPerSecond = 0,
        AverageMs = (prompt + generation) * 1000.0 / tokensPerSecond,
        Samples = [tokensPerSecond],
        ModelType = "llama 1B F16",
        BuildCommit = "c392e50",
    };

    [Fact]
    public void AlternatesRoundsAndWarmsOursUpOnlyOnce()
    {
        var log = new List<string>();
        var round = 0;

        ReferenceComparison.Run(
            (request, _) =>
            {
                log.Add($"ours r={request.Repetitions} warm={request.WarmUp}");
                return [Row("pp128", 128, 0, 100), Row("tg32", 0, 32, 10)];
            },
            (request, _) =>
            {
                log.Add($"llama-bench r={request.Repetitions} pp={request.PromptTokens} tg={request.GenerationTokens}");
                round++;
                return [Record("pp128", 128, 0, 50), Record("tg32", 0, 32, 20)];
            },
            Request, null, CancellationToken.None);

        Assert.Equal(
        [
            "ours r=1 warm=True", "llama-bench r=1 pp=128 tg=32",
            "ours r=1 warm=False", "llama-bench r=1 pp=128 tg=32",
            "ours r=1 warm=False", "llama-bench r=1 pp=128 tg=32",
        ], log);
        Assert.Equal(3, round);
    }

    [Fact]
    public void CombinesTheRoundsAndComparesTheMeans()
    {
        var ours = new Queue<double>([90, 100, 110]);
        var reference = new Queue<double>([40, 50, 60]);

        var comparison = ReferenceComparison.Run(
            (_, _) => { var value = ours.Dequeue(); return [Row("pp128", 128, 0, value), Row("tg32", 0, 32, value / 10, peak: (long)value * 1000)]; },
            (_, _) => { var value = reference.Dequeue(); return [Record("pp128", 128, 0, value), Record("tg32", 0, 32, value / 2)]; },
            Request, null, CancellationToken.None, "/opt/llama-bench");

        Assert.Equal(["pp128", "tg32"], comparison.Ours.Select(row => row.Test));
        Assert.Equal([90.0, 100.0, 110.0], comparison.Ours[0].Samples);
        Assert.Equal(100.0, comparison.Ours[0].AverageTokensPerSecond, 9);
        Assert.Equal(10.0, comparison.Ours[0].StandardDeviationTokensPerSecond, 9);
        Assert.Equal(110_000, comparison.Ours[1].PeakResidentBytes);  // the highest peak of the rounds
        Assert.Null(comparison.Ours[0].PeakResidentBytes);
        Assert.Equal([40.0, 50.0, 60.0], comparison.Reference[0].Samples);
        Assert.Equal(25.0, comparison.Reference[1].AverageTokensPerSecond, 9);

        Assert.Equal(["pp128", "tg32"], comparison.Ratios.Select(ratio => ratio.Test));
        Assert.Equal(2.0, comparison.Ratios[0].Ratio, 9);   // 100 / 50
        Assert.Equal(0.4, comparison.Ratios[1].Ratio, 9);   // 10 / 25
        Assert.Equal("c392e50", comparison.ReferenceDescription.BuildCommit);
        Assert.Equal("/opt/llama-bench", comparison.ReferenceProgram);
    }

    [Fact]
    public void RefusesAReferenceThatMeasuredSomethingElse()
    {
        var error = Assert.Throws<LlamaDistException>(() => ReferenceComparison.Run(
            (_, _) => [Row("pp128", 128, 0, 100), Row("tg32", 0, 32, 10)],
            (_, _) => [Record("pp512", 512, 0, 50)],
            Request, null, CancellationToken.None));

        Assert.Equal(LlamaErrorKind.ReferenceFailed, error.Kind);
        Assert.Contains("no pp128 result", error.Message);
    }

    [Fact]
    public void StopsBetweenRoundsWhenCancelled()
    {
        using var cancellation = new CancellationTokenSource();
        var referenceRuns = 0;

        Assert.ThrowsAny<OperationCanceledException>(() => ReferenceComparison.Run(
            (_, _) => [Row("tg32", 0, 32, 10)],
            (_, _) => { referenceRuns++; cancellation.Cancel(); return [Record("tg32", 0, 32, 20)]; },
            Request, null, cancellation.Token));
        Assert.Equal(1, referenceRuns);
    }

    [Fact]
    public void RatiosPairTestsByNameAndSkipThoseOnlyOneSideHas()
    {
        var ratios = BenchmarkRatio.Between(
            [Row("pp512", 512, 0, 30), Row("pp128", 128, 0, 60), Row("tg32", 0, 32, 9)],
            [Row("pp128", 128, 0, 80), Row("pp512", 512, 0, 20)]);

        Assert.Equal(["pp512", "pp128"], ratios.Select(ratio => ratio.Test));
        Assert.Equal(1.5, ratios[0].Ratio, 9);
        Assert.Equal(0.75, ratios[1].Ratio, 9);
        Assert.Equal(60, ratios[1].OursTokensPerSecond);
        Assert.Equal(80, ratios[1].ReferenceTokensPerSecond);
    }
}
