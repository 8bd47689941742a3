using LlamaDist.Core.Gguf;
using LlamaDist.Core.Tokenization;
using Xunit;

namespace LlamaDist.Core.Tests.Tokenization;

public sealed class TokenizerFactoryTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("llamadist-tokenizer-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void TheTinyModelTokenizesOnceUponATime()
    {
        using GgufFile file = GgufFile.Open(LlamaSpmVocabularyFixture.TinyModelPath);
        ITokenizer tokenizer = TokenizerFactory.FromGguf(file);

        int[] ids = tokenizer.Encode("Once upon a time", addSpecial: true);

        Assert.IsType<SentencePieceTokenizer>(tokenizer);
        Assert.Equal([1, 9038, 2501, 263, 931], ids);
        Assert.Equal(["<s>", "▁Once", "▁upon", "▁a", "▁time"], ids.Select(tokenizer.GetTokenText));
        Assert.Equal("Once upon a time", tokenizer.Decode(ids.AsSpan(1)));
        Assert.Equal(32000, tokenizer.VocabularySize);
    }

    [Fact]
    public void SettingsComeFromTheLlamaSpmMetadata()
    {
        using GgufFile file = GgufFile.Open(LlamaSpmVocabularyFixture.VocabularyPath);
        ITokenizer tokenizer = TokenizerFactory.FromGguf(file);

        Assert.Equal((1, 2, 0), (tokenizer.BosId, tokenizer.EosId, tokenizer.UnknownId));
        Assert.True(tokenizer.AddBos);
        Assert.False(tokenizer.AddEos);
        Assert.True(tokenizer.AddSpacePrefix); // no add_space_prefix key: the SPM default
        Assert.True(tokenizer.IsEndOfGeneration(2));
        Assert.False(tokenizer.IsEndOfGeneration(1));
        Assert.Equal(TokenType.Byte, tokenizer.GetTokenType(3 + 0x0A));
        Assert.Equal("\n", tokenizer.TokenToPiece(3 + 0x0A));
    }

    [Fact]
    public void AnUnknownTokenizerModelIsRejectedByName()
    {
        string path = WriteVocabulary("rwkv", writer => { });
        using GgufFile file = GgufFile.Open(path);

        var error = Assert.Throws<UnsupportedTokenizerException>(() => TokenizerFactory.FromGguf(file));

        Assert.Equal("rwkv", error.ModelName);
        Assert.Null(error.PreTokenizerName);
        Assert.Contains("'rwkv'", error.Message);
    }

    [Fact]
    public void AGpt2VocabularyWithAnUnknownPreTokenizerIsRejectedNamingIt()
    {
        string path = WriteVocabulary("gpt2", writer =>
        {
            writer.SetMetadata(TokenizerFactory.PreTokenizerKey, "mystery-pre");
            writer.SetMetadata(TokenizerFactory.MergesKey, new[] { "a b" });
        });
        using GgufFile file = GgufFile.Open(path);

        var error = Assert.Throws<UnsupportedTokenizerException>(() => TokenizerFactory.FromGguf(file));

        Assert.Equal("mystery-pre", error.PreTokenizerName);
        Assert.Contains("'mystery-pre'", error.Message);
        Assert.Contains("tokenizer.ggml.pre", error.Message);
        Assert.Contains("'llama-bpe'", error.Message);
    }

    [Fact]
    public void AGpt2VocabularyWithScoresOfAnotherLengthIsInvalid()
    {
        string path = WriteVocabulary("gpt2", writer =>
        {
            writer.SetMetadata(TokenizerFactory.MergesKey, new[] { "a b" });
            writer.SetMetadata(TokenizerFactory.ScoresKey, new[] { 0f, 0f });
        });
        using GgufFile file = GgufFile.Open(path);

        // Parallel vocabulary arrays of different lengths are a malformed file (InvalidGguf), named by key.
        var error = Assert.Throws<GgufFormatException>(() => TokenizerFactory.FromGguf(file));

        Assert.Contains("'tokenizer.ggml.scores' has 2 entries but 'tokenizer.ggml.tokens' has 6", error.Message);
    }

    [Fact]
    public void AGpt2VocabularyMergesByRankAndReadsItsSettings()
    {
        string path = WriteVocabulary("gpt2", writer =>
        {
            writer.SetMetadata(TokenizerFactory.PreTokenizerKey, "qwen2");
            writer.SetMetadata(TokenizerFactory.MergesKey, new[] { "a b" });
            writer.SetMetadata(TokenizerFactory.BosIdKey, 1u);
            writer.SetMetadata(TokenizerFactory.EosIdKey, 2u);
            writer.SetMetadata(TokenizerFactory.AddBosKey, true);
        });
        using GgufFile file = GgufFile.Open(path);

        var tokenizer = Assert.IsType<BytePairTokenizer>(TokenizerFactory.FromGguf(file));

        Assert.Equal("qwen2", tokenizer.PreTokenizer.Name);
        Assert.Equal([1, 5, 3], tokenizer.Encode("aba", addSpecial: true));
        // Without parse-special, "</s>" is plain text: its characters have no tokens here, so only the letters remain.
        Assert.Equal([3, 3], tokenizer.Encode("a</s>a", addSpecial: false, parseSpecial: false));
        Assert.Equal([3, 2, 3], tokenizer.Encode("a</s>a", addSpecial: false, parseSpecial: true));
        Assert.True(tokenizer.IsEndOfGeneration(2));
        Assert.Equal("aba", tokenizer.Decode([1, 5, 3]));
        Assert.Equal("<s>aba</s>", tokenizer.Decode([1, 5, 3, 2], removeSpecial: false, unparseSpecial: true));
    }

    [Fact]
    public void AMissingModelKeyIsAFormatError()
    {
        var writer = new GgufWriter();
        writer.SetMetadata("general.architecture", "llama");
        string path = Path.Combine(directory, "no-model.gguf");
        writer.WriteTo(path);
        using GgufFile file = GgufFile.Open(path);

        var error = Assert.Throws<GgufFormatException>(() => TokenizerFactory.FromGguf(file));

        Assert.Contains(TokenizerFactory.ModelKey, error.Message);
    }

    [Fact]
    public void SpecialIdsAndFlagsAreReadAndOutOfRangeIdsKeepTheDefault()
    {
        string path = WriteVocabulary("llama", writer =>
        {
            writer.SetMetadata(TokenizerFactory.BosIdKey, 4u);
            writer.SetMetadata(TokenizerFactory.EosIdKey, 99u); // outside the 6 tokens: llama.cpp keeps the default 2
            writer.SetMetadata(TokenizerFactory.AddEosKey, true);
            writer.SetMetadata(TokenizerFactory.AddSpacePrefixKey, false);
        });
        using GgufFile file = GgufFile.Open(path);

        ITokenizer tokenizer = TokenizerFactory.FromGguf(file);

        Assert.Equal(4, tokenizer.BosId);
        Assert.Equal(2, tokenizer.EosId);
        Assert.False(tokenizer.AddSpacePrefix);
        // "ab": no space prefix, "a"+"b" merge into "ab" (id 5); BOS 4 first, EOS 2 last.
        Assert.Equal([4, 5, 2], tokenizer.Encode("ab", addSpecial: true));
    }

    /// <summary>A vocabulary-only GGUF: &lt;unk&gt; &lt;s&gt; &lt;/s&gt; a b ab, with the given model name.</summary>
    private string WriteVocabulary(string model, Action<GgufWriter> configure)
    {
        var writer = new GgufWriter();
        writer.SetMetadata("general.architecture", "llama");
        writer.SetMetadata(TokenizerFactory.ModelKey, model);
        writer.SetMetadata(TokenizerFactory.TokensKey, new[] { "<unk>", "<s>", "</s>", "a", "b", "ab" });
        writer.SetMetadata(TokenizerFactory.ScoresKey, new[] { 0f, 0f, 0f, -1f, -1f, -2f });
        writer.SetMetadata(TokenizerFactory.TokenTypesKey, new[] { 2, 3, 3, 1, 1, 1 });
        configure(writer);
        string path = Path.Combine(directory, $"{model}-{Guid.NewGuid():N}.gguf");
        writer.WriteTo(path);
        return path;
    }
}
