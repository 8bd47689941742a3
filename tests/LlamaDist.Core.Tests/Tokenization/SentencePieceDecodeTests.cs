using System.Text;
using LlamaDist.Core.Tokenization;
using Xunit;

namespace LlamaDist.Core.Tests.Tokenization;

/// <summary>Decoding as llama.cpp's llama_detokenize and llama_token_to_piece do it for SPM vocabularies.</summary>
public sealed class SentencePieceDecodeTests
{
    private readonly TinyVocabulary vocabulary = new TinyVocabulary()
        .Add("▁", -1f).Add("▁Hello", -2f).Add("▁world", -2f).Add("!", -2f).Add("<|im_end|>", 0f, TokenType.Normal)
        .Add("<tool>", 0f, TokenType.UserDefined).Add("<unused0>", 0f, TokenType.Unused);

    private SentencePieceTokenizer Tokenizer(SentencePieceOptions? options = null) => vocabulary.Build(options);

    [Fact]
    public void TheSpacePrefixIsStrippedFromTheFirstPiece()
    {
        int[] ids = vocabulary.IdsOf("▁Hello", "▁world", "!");

        Assert.Equal("Hello world!", Tokenizer().Decode(ids));
        Assert.Equal(" Hello world!", Tokenizer(new SentencePieceOptions { AddSpacePrefix = false }).Decode(ids));
    }

    [Fact]
    public void ALeadingBosTakesTheStripSoTheNextPieceKeepsItsSpace()
    {
        // llama.cpp: remove_space is consumed by the first token whatever it is; BOS renders as nothing (or is dropped
        // by remove_special, which also turns remove_space off).
        int[] ids = [1, .. vocabulary.IdsOf("▁Hello")];
        SentencePieceTokenizer tokenizer = Tokenizer();

        Assert.Equal(" Hello", tokenizer.Decode(ids));
        Assert.Equal(" Hello", tokenizer.Decode(ids, removeSpecial: true, unparseSpecial: false));
        Assert.Equal("<s> Hello", tokenizer.Decode(ids, removeSpecial: false, unparseSpecial: true));
        Assert.Equal(" Hello", tokenizer.Decode(ids, removeSpecial: true, unparseSpecial: true));
    }

    [Fact]
    public void RemoveSpecialDropsATrailingEosOnlyWhenEosIsAdded()
    {
        int[] ids = [.. vocabulary.IdsOf("▁Hello"), 2];

        Assert.Equal("Hello</s>", Tokenizer().Decode(ids, removeSpecial: true, unparseSpecial: true));
        Assert.Equal("Hello", Tokenizer(new SentencePieceOptions { AddEos = true }).Decode(ids, removeSpecial: true, unparseSpecial: true));
    }

    [Fact]
    public void ByteTokensJoinIntoUtf8Characters()
    {
        // "é" = C3 A9 as two byte tokens, after "▁" which is stripped as the first piece.
        int[] ids = [vocabulary.IdOf("▁"), TinyVocabulary.ByteId(0xC3), TinyVocabulary.ByteId(0xA9)];

        Assert.Equal("é", Tokenizer().Decode(ids));
        Assert.Equal(new byte[] { 0xC3 }, Tokenizer().TokenToBytes(TinyVocabulary.ByteId(0xC3)));
        Assert.Equal("\uFFFD", Tokenizer().TokenToPiece(TinyVocabulary.ByteId(0xC3)));
    }

    [Fact]
    public void PiecesRenderByTokenType()
    {
        SentencePieceTokenizer tokenizer = Tokenizer();

        Assert.Equal(" Hello", tokenizer.TokenToPiece(vocabulary.IdOf("▁Hello")));
        Assert.Equal("", tokenizer.TokenToPiece(1));                         // control
        Assert.Equal("", tokenizer.TokenToPiece(0));                         // unknown
        Assert.Equal("<s>", Encoding.UTF8.GetString(tokenizer.TokenToBytes(1, renderSpecial: true)));
        Assert.Equal("<tool>", tokenizer.TokenToPiece(vocabulary.IdOf("<tool>"))); // user-defined: raw text
        Assert.Equal("", tokenizer.TokenToPiece(vocabulary.IdOf("<unused0>"))); // unused
        Assert.Equal("\n", tokenizer.TokenToPiece(TinyVocabulary.ByteId(0x0A)));
    }

    [Fact]
    public void EndOfTurnTextsEndGenerationAndBecomeControlTokens()
    {
        SentencePieceTokenizer tokenizer = Tokenizer();
        int imEnd = vocabulary.IdOf("<|im_end|>");

        Assert.True(tokenizer.IsEndOfGeneration(2));
        Assert.True(tokenizer.IsEndOfGeneration(imEnd));
        Assert.False(tokenizer.IsEndOfGeneration(1));
        Assert.False(tokenizer.IsEndOfGeneration(vocabulary.IdOf("▁Hello")));
        Assert.Equal(TokenType.Control, tokenizer.GetTokenType(imEnd));
        Assert.Equal("", tokenizer.TokenToPiece(imEnd));
    }

    [Fact]
    public void OutOfRangeIdsThrow()
    {
        SentencePieceTokenizer tokenizer = Tokenizer();

        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.TokenToPiece(tokenizer.VocabularySize));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([-1]));
    }
}
