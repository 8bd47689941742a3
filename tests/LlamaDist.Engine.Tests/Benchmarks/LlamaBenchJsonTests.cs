using LlamaDist.Engine.Benchmarks;
using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Tests.Benchmarks;

/// <summary>
/// llama-bench's JSON as LlamaDist reads it: recorded output of llama.cpp c392e50's llama-bench (-p 16 -n 8 -t 1
/// -r 2 on the embedded model, -o json and -o jsonl) and hostile variants of it.
/// </summary>
public sealed class LlamaBenchJsonTests
{
    private static string Recorded(string extension) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Data", "llama-bench", $"llama-bench-c392e50.{extension}"));

    [Fact]
    public void ReadsTheRecordedJsonArray()
    {
        var records = LlamaBenchJson.Parse(Recorded("json"), "llama-bench");

        Assert.Equal(["pp16", "tg8"], records.Select(record => record.Test));
        var prompt = records[0];
        Assert.Equal(16, prompt.PromptTokens);
        Assert.Equal(0, prompt.GenerationTokens);
        Assert.Equal(1, prompt.Threads);
        Assert.Equal(70969.029630, prompt.AverageTokensPerSecond, 6);
        Assert.Equal(2016.505379, prompt.StandardDeviationTokensPerSecond, 6);
        Assert.Equal(0.225541, prompt.AverageMs, 9);
        Assert.Equal([69543.1, 72394.9], prompt.Samples);
        Assert.Equal("llama ?B F16", prompt.ModelType);
        Assert.Equal(1026144, prompt.ModelSize);
        Assert.Equal(513048, prompt.ModelParameters);
        Assert.Equal("AMD EPYC", prompt.CpuInfo);
        Assert.Equal("RPC", prompt.Backends);
        Assert.Equal("unknown", prompt.BuildCommit);
        Assert.False(prompt.FlashAttention);
        Assert.Equal(8, records[1].GenerationTokens);
        Assert.Equal(2892.914725, records[1].AverageTokensPerSecond, 6);
    }

    [Fact]
    public void ReadsTheOneObjectPerLineForm()
    {
        var records = LlamaBenchJson.Parse(Recorded("jsonl"), "llama-bench");

        Assert.Equal(["pp16", "tg8"], records.Select(record => record.Test));
        Assert.All(records, record => Assert.True(record.AverageTokensPerSecond > 0));
        Assert.All(records, record => Assert.Equal(2, record.Samples.Length));
    }

    [Fact]
    public void DerivesRatesFromNanosecondsWhenAVersionWritesOnlyThose()
    {
        const string json = """[{"n_prompt": 0, "n_gen": 32, "n_threads": 2, "samples_ns": [1000000000, 500000000]}]""";

        var record = Assert.Single(LlamaBenchJson.Parse(json, "llama-bench"));

        Assert.Equal("tg32", record.Test);
        Assert.Equal([32.0, 64.0], record.Samples);
        Assert.Equal(48.0, record.AverageTokensPerSecond, 9);
        Assert.Equal(Math.Sqrt(512), record.StandardDeviationTokensPerSecond, 9);
        Assert.Equal(32 * 1000.0 / 48.0, record.AverageMs, 6);
    }

    [Fact]
    public void NamesTheCombinedTestAsLlamaBenchDoes()
    {
        const string json = """[{"n_prompt": 512, "n_gen": 128, "avg_ts": 10, "stddev_ts": 0}]""";

        Assert.Equal("pp512+tg128", Assert.Single(LlamaBenchJson.Parse(json, "llama-bench")).Test);
    }

    [Theory]
    [InlineData("", "no output")]
    [InlineData("[\n", "not complete JSON")]  // what llama-bench prints before it fails to load a model
    [InlineData("[]", "no test results")]
    [InlineData("[1, 2]", "not an object")]
    [InlineData("""[{"n_gen": 8, "avg_ts": 1}]""", "no n_prompt")]
    [InlineData("""[{"n_prompt": 0, "n_gen": 0, "avg_ts": 1}]""", "neither prompt nor generation")]
    [InlineData("""[{"n_prompt": -4, "n_gen": 0, "avg_ts": 1}]""", "not a count")]
    [InlineData("""[{"n_prompt": 4.5, "n_gen": 0, "avg_ts": 1}]""", "not a count")]
    [InlineData("""[{"n_prompt": 4, "n_gen": 0, "avg_ts": -1}]""", "no positive avg_ts")]
    [InlineData("""[{"n_prompt": 4, "n_gen": 0}]""", "no positive avg_ts")]
    [InlineData("""[{"n_prompt": 4, "n_gen": 0, "avg_ts": "fast"}]""", "not a number")]
    [InlineData("""[{"n_prompt": 4, "n_gen": 0, "avg_ts": 5, "samples_ts": [5, 0]}]""", "not a positive rate")]
    [InlineData("""[{"n_prompt": 4, "n_gen": 0, "avg_ts": 5, "samples_ts": "5"}]""", "not an array")]
    [InlineData("""[{"n_prompt": 4, "n_gen": 0, "avg_ts": 5, "stddev_ts": -1}]""", "invalid stddev_ts")]
    [InlineData("""[{"n_prompt": 99999999999, "n_gen": 0, "avg_ts": 5}]""", "beyond")]
    [InlineData("[[[[[[[[[[[[1]]]]]]]]]]]]", "not complete JSON")]
    public void RefusesOutputThatIsNotLlamaBenchResults(string json, string reason)
    {
        var error = Assert.Throws<LlamaDistException>(() => LlamaBenchJson.Parse(json, "/opt/llama/llama-bench"));

        Assert.Equal(LlamaErrorKind.ReferenceFailed, error.Kind);
        Assert.Contains(reason, error.Message);
        Assert.Equal("/opt/llama/llama-bench", error.Target);
    }

    [Fact]
    public void BoundsTheNumberOfRecords()
    {
        var one = """{"n_prompt": 4, "n_gen": 0, "avg_ts": 5}""";
        var json = "[" + string.Join(",", Enumerable.Repeat(one, LlamaBenchJson.MaxRecords + 1)) + "]";

        var error = Assert.Throws<LlamaDistException>(() => LlamaBenchJson.Parse(json, "llama-bench"));

        Assert.Contains($"more than {LlamaBenchJson.MaxRecords}", error.Message);
    }

    [Fact]
    public void CutsLongTextAndDropsControlCharacters()
    {
        var json = $$"""[{"n_prompt": 4, "n_gen": 0, "avg_ts": 5, "cpu_info": "{{new string('x', 10_000)}}", "model_type": "llama\u001b[31m 1B"}]""";

        var record = Assert.Single(LlamaBenchJson.Parse(json, "llama-bench"));

        Assert.Equal(LlamaBenchJson.MaxTextLength + 1, record.CpuInfo.Length);  // the cut is marked with an ellipsis
        Assert.EndsWith("…", record.CpuInfo);
        Assert.Equal("llama[31m 1B", record.ModelType);
    }

    [Fact]
    public void EchoesOnlyAShortExcerptOfBrokenOutput()
    {
        var json = "[{\"n_prompt\": " + new string('9', 100_000);

        var error = Assert.Throws<LlamaDistException>(() => LlamaBenchJson.Parse(json, "llama-bench"));

        Assert.True(error.Message.Length < 600, $"message of {error.Message.Length} characters");
    }
}
