using System.Diagnostics;
using LLama;
using LLama.Common;
using LlamaDist.Core.TestModels;
using LlamaDist.Engine.Tests.Agreement;
using LlamaDist.Engine.Tests.LlamaCpp;
using LlamaDist.Engine.TestModels;
using LlamaDist.Engine.Tokens;
using Xunit.Abstractions;

namespace LlamaDist.Engine.Tests.Tokens;

/// <summary>
/// Vocabulary-only GGUFs built from the real Llama 3 and Qwen 3 tokenizer.json files, written once for the class,
/// with llama.cpp (LLamaSharp 0.30, the same files loaded with VocabOnly) as the oracle.
/// </summary>
public sealed class TokenizerOracleFixture : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("llamadist-tokenizer-oracle-").FullName;

    public TokenizerOracleFixture()
    {
        foreach (string name in Names)
        {
            string root = Path.Combine(AppContext.BaseDirectory, "Data", "tokenizers", name);
            var clock = Stopwatch.StartNew();
            var metadata = TestModelFactory.ImportTokenizer(Path.Combine(root, "tokenizer.json.gz"),
                Path.Combine(root, "tokenizer_config.json"));
            string path = Path.Combine(directory, $"{name}-vocab.gguf");
            TestModelWriter.WriteVocabularyOnly(path, TestModelShape.For(TestModelPreset.Tiny), metadata);
            BuildTimes[name] = clock.Elapsed;
            Paths[name] = path;
        }

        // llama.cpp's own Phi-3 vocabulary (SentencePiece, general.name "Phi3": special tokens right-strip).
        Paths["phi3"] = Path.Combine(AppContext.BaseDirectory, "Data", "tokenizer", "ggml-vocab-phi-3.gguf");
        BuildTimes["phi3"] = TimeSpan.Zero;
    }

    public static readonly string[] Names = ["llama3", "qwen3"];

    public Dictionary<string, string> Paths { get; } = [];

    public Dictionary<string, TimeSpan> BuildTimes { get; } = [];

    public void Dispose() => Directory.Delete(directory, recursive: true);
}

[Collection(LlamaCppCollection.Name)]
public sealed class TokenizerOracleAgreementTests(TokenizerOracleFixture fixture, ITestOutputHelper output)
    : IClassFixture<TokenizerOracleFixture>
{
    private const int CorpusSize = 1200;

    // Phi-3 chat turns: its special tokens swallow the whitespace after them when split out.
    private static readonly string[] PhiThreeTurns =
    [
        "<|user|>\nHello<|end|>\n<|assistant|>\n", "<|system|> You are helpful.<|end|>", "<s> x", "</s>\n y",
        "<|endoftext|>  z", "a<|end|>\t\n b", "<|user|>", "<|assistant|>  \n\n  Hi",
    ];

    [Theory]
    [InlineData("llama3")]
    [InlineData("qwen3")]
    [InlineData("phi3")]
    public void EveryCorpusStringTokenizesToLlamaCppsIds(string name)
    {
        IReadOnlyList<string> corpus = name == "phi3"
            ? [.. TokenizerCorpus.Build(CorpusSize), .. PhiThreeTurns]
            : TokenizerCorpus.Build(CorpusSize);
        ModelTokenizer ours = ModelTokenizer.Load(fixture.Paths[name]);
        LlamaCppOracle.SilenceLogging();
        using LLamaWeights reference = LLamaWeights.LoadFromFile(new ModelParams(fixture.Paths[name])
        {
            VocabOnly = true,
            GpuLayerCount = 0,
        });

        var mismatches = new List<string>();
        int compared = 0;
        var clock = Stopwatch.StartNew();
        foreach (string text in corpus)
        {
            foreach (bool addSpecial in new[] { false, true })
            {
                foreach (bool parseSpecial in new[] { false, true })
                {
                    int[] expected = reference.Tokenize(text, addSpecial, parseSpecial, System.Text.Encoding.UTF8)
                        .Select(token => (int)token).ToArray();
                    int[] actual = ours.Tokenize(text, addSpecial, parseSpecial);
                    compared++;
                    if (!expected.SequenceEqual(actual) && mismatches.Count < 10)
                    {
                        mismatches.Add($"{Escape(text)} add={addSpecial} parse={parseSpecial}: llama.cpp " +
                            $"[{string.Join(",", expected)}] ours [{string.Join(",", actual)}]");
                    }
                }
            }
        }

        output.WriteLine($"{name}: {corpus.Count} strings, {compared} tokenizations compared in {clock.ElapsedMilliseconds} ms " +
            $"(vocabulary GGUF built in {fixture.BuildTimes[name].TotalMilliseconds:F0} ms)");
        Assert.True(corpus.Count >= 1000);
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    [Theory]
    [InlineData("llama3", 128000, true)]
    [InlineData("qwen3", 151643, false)]
    public void SpecialTextIsTextUnlessParseSpecialIsAsked(string name, int specialId, bool addsBos)
    {
        ModelTokenizer ours = ModelTokenizer.Load(fixture.Paths[name]);
        string text = name == "llama3" ? "<|begin_of_text|>" : "<|endoftext|>";

        int[] plain = ours.Tokenize(text, addSpecial: false, parseSpecial: false);
        int[] parsed = ours.Tokenize(text, addSpecial: false, parseSpecial: true);
        int[] withSpecial = ours.Tokenize("Hi", addSpecial: true, parseSpecial: false);

        Assert.DoesNotContain(specialId, plain);
        Assert.True(plain.Length > 1);
        Assert.Equal([specialId], parsed);
        Assert.Equal(addsBos, withSpecial[0] == 128000);
        Assert.Equal(text, ours.Detokenize(parsed, renderSpecial: true));
        Assert.Equal("", ours.Detokenize(parsed, renderSpecial: false));
    }

    [Fact]
    public void AMegabyteOfTextTokenizesInWellUnderAFewSeconds()
    {
        ModelTokenizer ours = ModelTokenizer.Load(fixture.Paths["llama3"]);
        string block = string.Join(" ", TokenizerCorpus.Build(300));
        string text = string.Concat(Enumerable.Repeat(block, (1 << 20) / block.Length + 1))[..(1 << 20)];
        ours.Tokenize("warm up", addSpecial: false, parseSpecial: false);

        var clock = Stopwatch.StartNew();
        int[] ids = ours.Tokenize(text, addSpecial: false, parseSpecial: false);
        clock.Stop();

        output.WriteLine($"{text.Length} chars -> {ids.Length} tokens in {clock.ElapsedMilliseconds} ms");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.True(ids.Length > text.Length / 8, $"only {ids.Length} tokens");
    }

    private static string Escape(string text) =>
        "\"" + text.Replace("\\", "\\\\").Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t") + "\"";
}
