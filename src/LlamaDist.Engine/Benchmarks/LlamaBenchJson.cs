using System.Globalization;
using System.Text.Json;
using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Benchmarks;

/// <summary>
/// Reads llama-bench's machine-readable output: the JSON array of `-o json` or the one-object-per-line form of
/// `-o jsonl`. The text comes from another program, so it is bounded and checked: at most
/// <see cref="MaxRecords"/> records of at most <see cref="MaxSamples"/> samples, every rate finite and positive,
/// text fields cut to <see cref="MaxTextLength"/> characters, and nothing of the input echoed beyond a short excerpt.
/// Fields older or newer llama-bench versions lack are derived where they can be (samples_ts from samples_ns,
/// avg_ts from the samples), so one missing field is not a failure; a record without its test shape is.
/// </summary>
internal static class LlamaBenchJson
{
    public const int MaxRecords = 4096;
    public const int MaxSamples = 100_000;
    public const int MaxTextLength = 256;
    private const int ExcerptLength = 120;

    private static readonly JsonDocumentOptions DocumentOptions = new()
    {
        AllowTrailingCommas = true,
        CommentHandling = JsonCommentHandling.Skip,
        MaxDepth = 8,
    };

    /// <exception cref="LlamaDistException">ReferenceFailed: the text is not llama-bench's JSON.</exception>
    public static IReadOnlyList<LlamaBenchRecord> Parse(string text, string source)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.AsSpan().Trim();
        if (trimmed.IsEmpty) throw Invalid(source, "it wrote no output");

        var records = new List<LlamaBenchRecord>();
        try
        {
            if (trimmed[0] == '[')
            {
                using var document = JsonDocument.Parse(trimmed.ToString(), DocumentOptions);
                foreach (var element in document.RootElement.EnumerateArray())
                {
                    Add(records, element, source);
                }
            }
            else
            {
                foreach (var line in text.Split('\n'))
                {
                    if (string.IsNullOrWhiteSpace(line)) continue;
                    using var document = JsonDocument.Parse(line, DocumentOptions);
                    Add(records, document.RootElement, source);
                }
            }
        }
        catch (JsonException exception)
        {
            throw Invalid(source, $"its output is not complete JSON ({exception.Message}); it began with \"{Excerpt(text)}\"", exception);
        }

        if (records.Count == 0) throw Invalid(source, "its output holds no test results");
        return records;
    }

    private static void Add(List<LlamaBenchRecord> records, JsonElement element, string source)
    {
        if (records.Count >= MaxRecords) throw Invalid(source, $"its output holds more than {MaxRecords} results");
        records.Add(Read(element, source, records.Count));
    }

    private static LlamaBenchRecord Read(JsonElement element, string source, int index)
    {
        if (element.ValueKind != JsonValueKind.Object) throw Invalid(source, $"result {index} is a JSON {element.ValueKind}, not an object");

        var prompt = Count(element, "n_prompt", source, index) ?? throw Invalid(source, $"result {index} has no n_prompt");
        var generation = Count(element, "n_gen", source, index) ?? throw Invalid(source, $"result {index} has no n_gen");
        if (prompt + (long)generation == 0) throw Invalid(source, $"result {index} has neither prompt nor generation tokens");
        var tokens = prompt + (long)generation;

        var samples = Numbers(element, "samples_ts", source, index);
        if (samples is null && Numbers(element, "samples_ns", source, index) is { } nanoseconds)
        {
            samples = nanoseconds.Select(ns => ns > 0 ? tokens * 1e9 / ns : double.NaN).ToArray();
        }
        samples ??= [];
        var average = Number(element, "avg_ts", source, index) ?? (samples.Length > 0 ? samples.Average() : double.NaN);
        var deviation = Number(element, "stddev_ts", source, index) ?? BenchmarkStatistics.StandardDeviation(samples);
        var averageNs = Number(element, "avg_ns", source, index) ?? (average > 0 ? tokens * 1e9 / average : double.NaN);
        if (!(double.IsFinite(average) && average > 0)) throw Invalid(source, $"result {index} has no positive avg_ts");
        if (samples.Any(sample => !(double.IsFinite(sample) && sample > 0))) throw Invalid(source, $"result {index} has a sample that is not a positive rate");
        if (!double.IsFinite(deviation) || deviation < 0) throw Invalid(source, $"result {index} has an invalid stddev_ts");
        if (!(double.IsFinite(averageNs) && averageNs > 0)) throw Invalid(source, $"result {index} has an invalid avg_ns");

        return new LlamaBenchRecord
        {
            Test = TestName(prompt, generation),
            PromptTokens = prompt,
            GenerationTokens = generation,
            Threads = Count(element, "n_threads", source, index) ?? 0,
            AverageTokensPerSecond = average,
            StandardDeviationTokensPerSecond = deviation,
            AverageMs = averageNs / 1e6,
            Samples = samples.Length > 0 ? samples : [average],
            ModelType = Text(element, "model_type"),
            ModelSize = LongCount(element, "model_size", source, index) ?? 0,
            ModelParameters = LongCount(element, "model_n_params", source, index) ?? 0,
            CpuInfo = Text(element, "cpu_info"),
            Backends = Text(element, "backends"),
            BuildCommit = Text(element, "build_commit"),
            FlashAttention = element.TryGetProperty("flash_attn", out var flash) && flash.ValueKind == JsonValueKind.True,
        };
    }

    /// <summary>llama-bench's test names: pp512, tg128, pp512+tg128.</summary>
    public static string TestName(int promptTokens, int generationTokens) => (promptTokens, generationTokens) switch
    {
        ( > 0, 0) => $"pp{promptTokens}",
        (0, > 0) => $"tg{generationTokens}",
        _ => $"pp{promptTokens}+tg{generationTokens}",
    };

    private static double? Number(JsonElement element, string name, string source, int index)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var number)) return number;
        // Some writers quote numbers; accept those that parse as invariant numbers.
        if (value.ValueKind == JsonValueKind.String &&
            double.TryParse(value.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out number)) return number;
        throw Invalid(source, $"result {index} has a {name} that is not a number");
    }

    private static int? Count(JsonElement element, string name, string source, int index)
    {
        var value = LongCount(element, name, source, index);
        if (value is > int.MaxValue) throw Invalid(source, $"result {index} has a {name} beyond {int.MaxValue}");
        return (int?)value;
    }

    private static long? LongCount(JsonElement element, string name, string source, int index)
    {
        if (Number(element, name, source, index) is not { } value) return null;
        if (!double.IsFinite(value) || value < 0 || value != Math.Floor(value) || value > long.MaxValue / 2)
            throw Invalid(source, $"result {index} has a {name} that is not a count");
        return (long)value;
    }

    private static double[]? Numbers(JsonElement element, string name, string source, int index)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.Array) throw Invalid(source, $"result {index} has a {name} that is not an array");
        if (value.GetArrayLength() > MaxSamples) throw Invalid(source, $"result {index} has more than {MaxSamples} {name}");
        var numbers = new double[value.GetArrayLength()];
        var i = 0;
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetDouble(out numbers[i++]))
                throw Invalid(source, $"result {index} has a {name} entry that is not a number");
        }
        return numbers;
    }

    private static string Text(JsonElement element, string name)
    {
        if (!element.TryGetProperty(name, out var value)) return "";
        var text = value.ValueKind switch
        {
            JsonValueKind.String => value.GetString() ?? "",
            JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
            _ => "",
        };
        return Bounded(text, MaxTextLength);
    }

    private static string Excerpt(string text) => Bounded(text.Trim().ReplaceLineEndings(" "), ExcerptLength);

    private static string Bounded(string text, int length)
    {
        // Control characters from another program's output are not passed on to a console.
        var clean = new string(text.Where(character => !char.IsControl(character)).Take(length + 1).ToArray());
        return clean.Length > length ? clean[..length] + "…" : clean;
    }

    private static LlamaDistException Invalid(string source, string reason, Exception? inner = null) =>
        new(LlamaErrorKind.ReferenceFailed, $"llama-bench ({source}) did not report results LlamaDist can read: {reason}.", source, inner);
}
