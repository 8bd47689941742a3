using LlamaDist.Core.Tokenization;
using Xunit;

namespace LlamaDist.Core.Tests.Tokenization;

/// <summary>The score-driven pair merge, byte fallback and space prefix on hand-made vocabularies whose answers are
/// worked out by hand from llama.cpp's llm_tokenizer_spm rules.</summary>
public sealed class SentencePieceMergeTests
{
    private static TinyVocabulary Letters() => new TinyVocabulary()
        .Add("▁", -1f).Add("a", -2f).Add("b", -2f).Add("c", -2f);

    [Fact]
    public void HigherScoringPairMergesFirst()
    {
        // "abc": both "ab" and "bc" are tokens; "bc" scores higher, so it wins and "a" stays alone.
        TinyVocabulary vocabulary = Letters().Add("ab", -5f).Add("bc", -3f);
        SentencePieceTokenizer tokenizer = vocabulary.Build(new SentencePieceOptions { AddSpacePrefix = false });

        Assert.Equal(vocabulary.IdsOf("a", "bc"), tokenizer.Encode("abc", addSpecial: false));
    }

    [Fact]
    public void SwappingScoresSwapsTheMerge()
    {
        TinyVocabulary vocabulary = Letters().Add("ab", -3f).Add("bc", -5f);
        SentencePieceTokenizer tokenizer = vocabulary.Build(new SentencePieceOptions { AddSpacePrefix = false });

        Assert.Equal(vocabulary.IdsOf("ab", "c"), tokenizer.Encode("abc", addSpecial: false));
    }

    [Fact]
    public void EqualScoresMergeTheLeftmostPairFirst()
    {
        // "aaa": pairs (0,1) and (1,2) both make "aa" with the same score; the left one merges, leaving "aa" + "a".
        TinyVocabulary vocabulary = Letters().Add("aa", -3f);
        SentencePieceTokenizer tokenizer = vocabulary.Build(new SentencePieceOptions { AddSpacePrefix = false });

        Assert.Equal(vocabulary.IdsOf("aa", "a"), tokenizer.Encode("aaa", addSpecial: false));
    }

    [Fact]
    public void MergedSymbolsKeepMergingWithTheirNewNeighbours()
    {
        // "ab" merges first; then ("ab","c") forms "abc", a token even though its score is the lowest in the vocabulary.
        TinyVocabulary vocabulary = Letters().Add("ab", -3f).Add("abc", -100f);
        SentencePieceTokenizer tokenizer = vocabulary.Build(new SentencePieceOptions { AddSpacePrefix = false });

        Assert.Equal(vocabulary.IdsOf("abc"), tokenizer.Encode("abc", addSpecial: false));
    }

    [Fact]
    public void SpacesBecomeMarkersAndTheTextGetsASpacePrefix()
    {
        TinyVocabulary vocabulary = Letters().Add("▁a", -3f).Add("▁b", -3f);
        SentencePieceTokenizer tokenizer = vocabulary.Build();

        Assert.Equal(vocabulary.IdsOf("▁a", "▁b"), tokenizer.Encode("a b", addSpecial: false));
        Assert.Equal(vocabulary.IdsOf("▁", "▁a"), tokenizer.Encode(" a", addSpecial: false));
    }

    [Fact]
    public void WithoutSpacePrefixTheFirstWordHasNoMarker()
    {
        TinyVocabulary vocabulary = Letters().Add("▁a", -3f).Add("▁b", -3f);
        SentencePieceTokenizer tokenizer = vocabulary.Build(new SentencePieceOptions { AddSpacePrefix = false });

        Assert.Equal(vocabulary.IdsOf("a", "▁b"), tokenizer.Encode("a b", addSpecial: false));
    }

    [Fact]
    public void AddSpecialPutsBosFirstAndEosLastWhenConfigured()
    {
        TinyVocabulary vocabulary = Letters().Add("▁a", -3f);

        Assert.Equal([1, vocabulary.IdOf("▁a")], vocabulary.Build().Encode("a", addSpecial: true));
        Assert.Equal([1, vocabulary.IdOf("▁a"), 2],
            vocabulary.Build(new SentencePieceOptions { AddEos = true }).Encode("a", addSpecial: true));
        Assert.Equal([vocabulary.IdOf("▁a")],
            vocabulary.Build(new SentencePieceOptions { AddBos = false }).Encode("a", addSpecial: true));
    }

    [Fact]
    public void EmptyTextHasNoTokensAndNoSpacePrefix()
    {
        SentencePieceTokenizer tokenizer = Letters().Build();

        Assert.Empty(tokenizer.Encode("", addSpecial: false));
        Assert.Equal([1], tokenizer.Encode("", addSpecial: true));
    }

    [Fact]
    public void CharactersOutsideTheVocabularyFallBackToTheirUtf8Bytes()
    {
        TinyVocabulary vocabulary = Letters();
        SentencePieceTokenizer tokenizer = vocabulary.Build();

        // "é" is C3 A9 in UTF-8; "😀" (a surrogate pair in .NET) is F0 9F 98 80.
        int[] expected =
        [
            vocabulary.IdOf("▁"), TinyVocabulary.ByteId(0xC3), TinyVocabulary.ByteId(0xA9), vocabulary.IdOf("a"),
            TinyVocabulary.ByteId(0xF0), TinyVocabulary.ByteId(0x9F), TinyVocabulary.ByteId(0x98), TinyVocabulary.ByteId(0x80),
        ];
        Assert.Equal(expected, tokenizer.Encode("éa😀", addSpecial: false));
    }

    [Fact]
    public void LoneSurrogateIsEncodedAsTheReplacementCharacter()
    {
        SentencePieceTokenizer tokenizer = Letters().Build(new SentencePieceOptions { AddSpacePrefix = false });

        // U+FFFD is EF BF BD in UTF-8, what any UTF-8 conversion of a lone surrogate gives.
        int[] expected = [TinyVocabulary.ByteId(0xEF), TinyVocabulary.ByteId(0xBF), TinyVocabulary.ByteId(0xBD)];
        Assert.Equal(expected, tokenizer.Encode("\uD83D", addSpecial: false));
    }

    [Fact]
    public void WithoutByteTokensEveryByteBecomesTheUnknownToken()
    {
        TinyVocabulary vocabulary = new TinyVocabulary(withByteTokens: false).Add("a", -2f);
        SentencePieceTokenizer tokenizer = vocabulary.Build(new SentencePieceOptions { AddSpacePrefix = false });

        Assert.Equal([vocabulary.IdOf("a"), 0, 0], tokenizer.Encode("aé", addSpecial: false));
    }

    [Fact]
    public void ControlTokenTextIsPlainTextUnlessSpecialParsingIsAsked()
    {
        TinyVocabulary vocabulary = Letters().Add("▁a", -3f).Add("<", -4f).Add(">", -4f).Add("s", -4f);
        SentencePieceTokenizer tokenizer = vocabulary.Build();

        Assert.Equal(vocabulary.IdsOf("▁", "<", "s", ">", "a"), tokenizer.Encode("<s>a", addSpecial: false));
        // Parsed, "<s>" is BOS, and the text after a special token gets the space prefix again.
        Assert.Equal([1, vocabulary.IdOf("▁a")], tokenizer.Encode("<s>a", addSpecial: false, parseSpecial: true));
    }

    [Fact]
    public void UserDefinedTokensAreAlwaysSplitOut()
    {
        TinyVocabulary vocabulary = Letters().Add("▁a", -3f).Add("▁b", -3f).Add("<tool>", 0f, TokenType.UserDefined);
        SentencePieceTokenizer tokenizer = vocabulary.Build();

        Assert.Equal(vocabulary.IdsOf("▁a", "<tool>", "▁b"), tokenizer.Encode("a<tool>b", addSpecial: false));
    }

    [Fact]
    public void ByteTokenLookupFallsBackToTheUnknownId()
    {
        SentencePieceTokenizer withBytes = Letters().Build();
        SentencePieceTokenizer withoutBytes = new TinyVocabulary(withByteTokens: false).Build();

        Assert.Equal(TinyVocabulary.ByteId(0x0A), withBytes.ByteToToken(0x0A));
        Assert.Equal(0, withoutBytes.ByteToToken(0x0A));
    }

    [Fact]
    public void InconsistentVocabulariesAreRejected()
    {
        Assert.Throws<InvalidVocabularyException>(() =>
            new SentencePieceTokenizer(["<unk>", "<s>", "</s>"], [0f, 0f], null));
        Assert.Throws<InvalidVocabularyException>(() =>
            new SentencePieceTokenizer(["<unk>", "<s>", "</s>"], null, null, new SentencePieceOptions { BosId = 3 }));
        Assert.Throws<InvalidVocabularyException>(() =>
            new SentencePieceTokenizer(["<unk>", "<s>", "</s>"], null, null, new SentencePieceOptions { BosId = -1 }));
    }
}
