using System.Diagnostics;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.TestModels;
using LlamaDist.Core.Tokenization;
using Xunit;

namespace LlamaDist.Core.Tests.Tokenization;

/// <summary>tokenizer.json → GGUF vocabulary, checked on the real Llama 3 and Qwen 3 files and on small hand-made ones.</summary>
public sealed class HuggingFaceTokenizerImportTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("llamadist-hf-import-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    public static string TokenizerPath(string name) =>
        Path.Combine(AppContext.BaseDirectory, "Data", "tokenizers", name, "tokenizer.json.gz");

    public static string ConfigPath(string name) =>
        Path.Combine(AppContext.BaseDirectory, "Data", "tokenizers", name, "tokenizer_config.json");

    [Fact]
    public void Llama3BecomesALlamaBpeVocabularyThatWritesQuicklyAndTokenizes()
    {
        TokenizerMetadata metadata = HuggingFaceTokenizerImport.Read(TokenizerPath("llama3"), ConfigPath("llama3"));
        string path = Path.Combine(directory, "llama3-vocab.gguf");
        var clock = Stopwatch.StartNew();
        TestModelWriter.WriteVocabularyOnly(path, TestModelShape.For(TestModelPreset.Tiny), metadata);
        clock.Stop();

        using GgufFile file = GgufFile.Open(path);
        var tokenizer = Assert.IsType<BytePairTokenizer>(TokenizerFactory.FromGguf(file));

        Assert.Equal(128256, metadata.VocabularySize);
        Assert.Equal("llama-bpe", metadata.PreTokenizer);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"writing took {clock.Elapsed}");
        Assert.Equal((128000, 128001), (tokenizer.BosId, tokenizer.EosId));
        Assert.Equal(128009, tokenizer.EndOfTurnId);
        Assert.True(tokenizer.AddBos);
        Assert.Equal([128000, 9906, 1917], tokenizer.Encode("Hello world", addSpecial: true));
        Assert.Equal(TokenType.Control, tokenizer.GetTokenType(128009));
        Assert.Contains("<|start_header_id|>", file.GetValue<string>(HuggingFaceTokenizerImport.ChatTemplateKey));
        Assert.Equal(280147, file.GetArray<string>(TokenizerFactory.MergesKey).Length);
    }

    [Fact]
    public void Qwen3BecomesAQwen2VocabularyWithArrayMergesAndUserDefinedThinkTags()
    {
        TokenizerMetadata metadata = HuggingFaceTokenizerImport.Read(TokenizerPath("qwen3"), ConfigPath("qwen3"));
        string path = Path.Combine(directory, "qwen3-vocab.gguf");
        TestModelWriter.WriteVocabularyOnly(path, TestModelShape.For(TestModelPreset.Tiny), metadata);

        using GgufFile file = GgufFile.Open(path);
        var tokenizer = Assert.IsType<BytePairTokenizer>(TokenizerFactory.FromGguf(file));

        Assert.Equal("qwen2", metadata.PreTokenizer);
        Assert.Equal(151669, metadata.VocabularySize);
        Assert.False(tokenizer.AddBos);
        Assert.Equal(151645, tokenizer.EosId); // <|im_end|>
        Assert.Equal([9707, 1879], tokenizer.Encode("Hello world", addSpecial: true));
        Assert.True(tokenizer.Vocabulary.TryGetId("<think>", out int think));
        Assert.Equal(TokenType.UserDefined, tokenizer.GetTokenType(think));
        Assert.Equal(TokenType.Control, tokenizer.GetTokenType(151644)); // <|im_start|>
        Assert.Equal(151387, file.GetArray<string>(TokenizerFactory.MergesKey).Length);
    }

    [Fact]
    public void GapsBecomeUnusedPadTokensAndLookingSpecialMakesControl()
    {
        string json = """
            {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2},
                       "merges": [["a", "b"]]},
             "added_tokens": [{"id": 5, "content": "<|user|>", "special": false},
                              {"id": 6, "content": "<tool>", "special": false},
                              {"id": 7, "content": "[SPECIAL]", "special": true}],
             "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}}
            """;
        string path = Path.Combine(directory, "tokenizer.json");
        File.WriteAllText(path, json);

        TokenizerMetadata metadata = HuggingFaceTokenizerImport.Read(path, tokenizerConfigPath: null);
        var entries = metadata.Entries.ToDictionary(entry => entry.Key, entry => entry.Value);

        Assert.Equal(8, metadata.VocabularySize);
        Assert.Equal("gpt-2", metadata.PreTokenizer);
        Assert.Equal(["a", "b", "ab", "[PAD3]", "[PAD4]", "<|user|>", "<tool>", "[SPECIAL]"],
            (string[])entries[TokenizerFactory.TokensKey]);
        Assert.Equal([1, 1, 1, 5, 5, 3, 4, 3], (int[])entries[TokenizerFactory.TokenTypesKey]);
        Assert.Equal(["a b"], (string[])entries[TokenizerFactory.MergesKey]);
        Assert.False(entries.ContainsKey(TokenizerFactory.BosIdKey));
    }

    [Fact]
    public void AnUnrecognisedSplitExpressionIsRefusedNamingIt()
    {
        string json = """
            {"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
             "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\d+"}}]}}
            """;
        string path = Path.Combine(directory, "tokenizer.json");
        File.WriteAllText(path, json);

        var error = Assert.Throws<UnsupportedTokenizerException>(() => HuggingFaceTokenizerImport.Read(path, null));

        Assert.Equal(@"\d+", error.PreTokenizerName);
    }

    [Fact]
    public void AWordPieceModelIsNotImported()
    {
        string path = Path.Combine(directory, "tokenizer.json");
        File.WriteAllText(path, """{"model": {"type": "WordPiece", "vocab": {"a": 0}}}""");

        var error = Assert.Throws<InvalidVocabularyException>(() => HuggingFaceTokenizerImport.Read(path, null));

        Assert.Contains("WordPiece", error.Message);
    }

    [Fact]
    public void AHugeIdIsRefusedInsteadOfPaddingMillionsOfTokens()
    {
        string path = Path.Combine(directory, "tokenizer.json");
        File.WriteAllText(path, """
            {"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
             "added_tokens": [{"id": 2000000000, "content": "<x>", "special": true}],
             "pre_tokenizer": {"type": "ByteLevel", "use_regex": true}}
            """);

        var error = Assert.Throws<InvalidVocabularyException>(() => HuggingFaceTokenizerImport.Read(path, null));

        Assert.Contains("<x>", error.Message);
        Assert.Contains((HuggingFaceTokenizerImport.MaximumVocabularySize - 1).ToString(), error.Message);
    }
}
