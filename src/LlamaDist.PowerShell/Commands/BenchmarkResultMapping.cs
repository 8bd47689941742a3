using LlamaDist.Engine.Benchmarks;
using LlamaDist.Engine.Formatting;
using LlamaDist.Engine.Models;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>Benchmark rows of the engine (LlamaDist's, llama-bench's, ratios) to Invoke-LlamaBenchmark's output rows.</summary>
internal static class BenchmarkResultMapping
{
    public const string OursEngine = "LlamaDist";
    public const string RatioEngine = "LlamaDist / llama.cpp";

    /// <summary>
    /// What a local run measured besides speed: the read bandwidth of fresh memory and of the weights' own pages
    /// (null where a device holds the weights), decode steps alternated with reads of those pages (null there too,
    /// and where the run decoded nothing), and the model's bytes.
    /// </summary>
    public sealed record LocalMeasures(ReadBandwidth Bandwidth, ReadBandwidth? WeightReads, long WeightBytesPerToken, long BaselineResidentBytes,
        long WeightAndCacheBytes, DecodeBesideReads? Alternation = null);

    public static LlamaBenchmarkResult Ours(ModelSummary summary, BenchmarkRow row, int repetitions, string backend = "CPU",
        string weightMemory = "", LocalMeasures? local = null)
    {
        var alternation = Alternation(row, local);
        return new()
        {
            Engine = OursEngine,
            Model = summary.Name,
            ModelType = $"{summary.Architecture} {HumanReadable.Count(summary.ParameterCount)} {summary.PredominantType}",
            ModelSize = summary.FileSize,
            Size = HumanReadable.Bytes(summary.FileSize),
            ModelParameters = summary.ParameterCount,
            Backend = backend,
            Threads = row.Threads,
            Concurrency = row.Concurrency,
            WeightMemory = weightMemory,
            Test = row.Test,
            PromptTokens = row.PromptTokens,
            GenerationTokens = row.GenerationTokens,
            Repetitions = repetitions,
            AverageTokensPerSecond = Math.Round(row.AverageTokensPerSecond, 2),
            StandardDeviationTokensPerSecond = Math.Round(row.StandardDeviationTokensPerSecond, 2),
            AverageMs = Math.Round(row.AverageMs, 3),
            ReadBandwidthGBps = local is null ? null : Math.Round(local.Bandwidth.GigabytesPerSecond, 2),
            WeightBytesPerToken = local?.WeightBytesPerToken,
            BandwidthFraction = local is null ? null : Fraction(row, local.Bandwidth, local.WeightBytesPerToken),
            WeightReadGBps = local?.WeightReads is null ? null : Math.Round(local.WeightReads.GigabytesPerSecond, 2),
            WeightReadFraction = local?.WeightReads is null ? null : Fraction(row, local.WeightReads, local.WeightBytesPerToken),
            AlternatingDecodeGBps = alternation is null ? null : Math.Round(alternation.DecodeBytesPerSecond / 1e9, 2),
            AlternatingReadGBps = alternation is null ? null : Math.Round(alternation.ReadBytesPerSecond / 1e9, 2),
            AlternatingReadFraction = alternation is null ? null : Math.Round(alternation.Fraction, 3),
            PeakResidentBytes = local is null ? null : row.PeakResidentBytes,
            BaselineResidentBytes = local is not null && row.PeakResidentBytes is not null ? local.BaselineResidentBytes : null,
            WeightAndCacheBytes = local is not null && row.PeakResidentBytes is not null ? local.WeightAndCacheBytes : null,
            Samples = row.Samples,
        };
    }

    /// <summary>The alternated decode steps and reads, for a generation row of one sequence (they decode one).</summary>
    private static DecodeBesideReads? Alternation(BenchmarkRow row, LocalMeasures? local) =>
        row.GenerationTokens > 0 && row.Concurrency == 1 ? local?.Alternation : null;

    /// <summary>A row of llama-bench, described with what llama-bench itself reported about the model and build.</summary>
    public static LlamaBenchmarkResult Reference(ModelSummary summary, BenchmarkComparison comparison, BenchmarkRow row, int repetitions, LocalMeasures local)
    {
        var description = comparison.ReferenceDescription;
        return new LlamaBenchmarkResult
        {
            Engine = ReferenceEngine(description),
            Model = summary.Name,
            ModelType = description.ModelType,
            ModelSize = description.ModelSize,
            Size = HumanReadable.Bytes(description.ModelSize),
            ModelParameters = description.ModelParameters,
            Backend = description.Backends,
            Threads = row.Threads,
            WeightMemory = "Mapped",  // llama-bench's default, mmap on
            Test = row.Test,
            PromptTokens = row.PromptTokens,
            GenerationTokens = row.GenerationTokens,
            Repetitions = repetitions,
            AverageTokensPerSecond = Math.Round(row.AverageTokensPerSecond, 2),
            StandardDeviationTokensPerSecond = Math.Round(row.StandardDeviationTokensPerSecond, 2),
            AverageMs = Math.Round(row.AverageMs, 3),
            ReadBandwidthGBps = Math.Round(local.Bandwidth.GigabytesPerSecond, 2),
            WeightBytesPerToken = local.WeightBytesPerToken,
            BandwidthFraction = Fraction(row, local.Bandwidth, local.WeightBytesPerToken),
            Samples = row.Samples,
        };
    }

    /// <summary>A ratio row: the test, the figure in Ratio, the speed columns NaN (it is not a measurement).</summary>
    public static LlamaBenchmarkResult Ratio(ModelSummary summary, BenchmarkRatio ratio, BenchmarkRow ours, int repetitions) => new()
    {
        Engine = RatioEngine,
        Model = summary.Name,
        ModelType = $"{summary.Architecture} {HumanReadable.Count(summary.ParameterCount)} {summary.PredominantType}",
        ModelSize = summary.FileSize,
        Size = HumanReadable.Bytes(summary.FileSize),
        ModelParameters = summary.ParameterCount,
        Backend = "",
        Threads = ours.Threads,
        Test = ratio.Test,
        PromptTokens = ours.PromptTokens,
        GenerationTokens = ours.GenerationTokens,
        Repetitions = repetitions,
        AverageTokensPerSecond = double.NaN,
        StandardDeviationTokensPerSecond = double.NaN,
        AverageMs = double.NaN,
        Ratio = Math.Round(ratio.Ratio, 3),
    };

    /// <summary>"llama.cpp (llama-bench)", with the build commit when the build knows it.</summary>
    public static string ReferenceEngine(LlamaBenchRecord description) =>
        string.IsNullOrEmpty(description.BuildCommit) || description.BuildCommit == "unknown"
            ? "llama.cpp (llama-bench)"
            : $"llama.cpp (llama-bench {description.BuildCommit})";

    /// <summary>Decoding's share of a read bandwidth; null for prompt tests (compute-bound, not a bandwidth figure).</summary>
    private static double? Fraction(BenchmarkRow row, ReadBandwidth bandwidth, long weightBytesPerToken) =>
        row.PromptTokens == 0 && row.GenerationTokens > 0 && bandwidth.BytesPerSecond > 0
            ? Math.Round(weightBytesPerToken * row.AverageTokensPerSecond / bandwidth.BytesPerSecond, 3)
            : null;
}
