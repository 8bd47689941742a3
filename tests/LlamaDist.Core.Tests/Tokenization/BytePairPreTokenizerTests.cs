using LlamaDist.Core.Tokenization;
using Xunit;

namespace LlamaDist.Core.Tests.Tokenization;

/// <summary>Word splitting by tokenizer.ggml.pre name (the vocabulary vectors and the llama.cpp corpus test check the
/// resulting ids; these pin the splits themselves).</summary>
public sealed class BytePairPreTokenizerTests
{
    [Theory]
    [InlineData("default", "default")]
    [InlineData(null, "default")]
    [InlineData("", "default")]
    [InlineData("gpt-2", "gpt-2")]
    [InlineData("llama-bpe", "llama-bpe")]
    [InlineData("llama3", "llama-bpe")]
    [InlineData("qwen2", "qwen2")]
    [InlineData("deepseek-llm", "deepseek-llm")]
    [InlineData("deepseek-coder", "deepseek-coder")]
    [InlineData("falcon", "falcon")]
    [InlineData("starcoder", "starcoder")]
    [InlineData("refact", "refact")]
    [InlineData("mpt", "mpt")]
    [InlineData("smollm", "smollm")]
    [InlineData("tekken", "tekken")]
    public void EveryRequiredNameResolves(string? name, string canonical)
    {
        Assert.Equal(canonical, BytePairPreTokenizer.FromName(name).Name);
    }

    [Theory]
    [InlineData("llama-bpe", "I'M 12345 tokens!!\n\n  ok", new[] { "I", "'M", " ", "123", "45", " tokens", "!!\n\n", " ", " ok" })]
    [InlineData("qwen2", "abc 2024", new[] { "abc", " ", "2", "0", "2", "4" })]
    [InlineData("gpt-2", "it's  fine", new[] { "it", "'s", " ", " fine" })]
    [InlineData("tekken", "HelloWorld foo", new[] { "Hello", "World", " foo" })]
    [InlineData("deepseek-coder", "x=10;\ny", new[] { "x", "=", "1", "0", ";", "\n", "y" })]
    [InlineData("llama-bpe", "𝓗𝓮y 𐐀", new[] { "𝓗𝓮y", " 𐐀" })]
    public void SplitsLikeLlamaCppsExpressions(string name, string text, string[] words)
    {
        var spans = new List<(int Start, int Length)>();

        BytePairPreTokenizer.FromName(name).Split(text, 0, text.Length, spans);

        Assert.Equal(words, spans.Select(span => text.Substring(span.Start, span.Length)));
    }

    [Fact]
    public void AnUnknownNameIsRefusedListingTheKnownOnes()
    {
        var error = Assert.Throws<UnsupportedTokenizerException>(() => BytePairPreTokenizer.FromName("gpt-5"));

        Assert.Equal("gpt-5", error.PreTokenizerName);
        Assert.Contains("'tekken'", error.Message);
    }
}
