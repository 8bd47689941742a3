using LlamaDist.Core.Tokenization;
using Xunit;

namespace LlamaDist.Core.Tests.Tokenization;

/// <summary>Every llama.cpp tokenizer test vector for the LLaMA SPM vocabulary must come out id for id.</summary>
public sealed class SentencePieceVectorTests
{
    public static TheoryData<int> VectorIndices()
    {
        var data = new TheoryData<int>();
        for (int index = 0; index < LlamaSpmVocabularyFixture.Vectors.Length; index++)
        {
            data.Add(index);
        }

        return data;
    }

    [Fact]
    public void TheVectorFileHoldsAllFortySixCases()
    {
        var vectors = LlamaSpmVocabularyFixture.Vectors;

        Assert.Equal(46, vectors.Length);
        Assert.Equal("ied 4 ½ months", vectors[0].Input);
        Assert.Equal([474, 287, 29871, 29946, 29871, 30226, 7378], vectors[0].Expected);
        Assert.Equal("", vectors[2].Input);
        Assert.Empty(vectors[2].Expected);
    }

    [Theory]
    [MemberData(nameof(VectorIndices))]
    public void EncodesLikeLlamaCpp(int index)
    {
        (string input, int[] expected) = LlamaSpmVocabularyFixture.Vectors[index];

        int[] actual = LlamaSpmVocabularyFixture.Tokenizer.Encode(input, addSpecial: false);

        Assert.Equal(expected, actual);
    }

    [Theory]
    [MemberData(nameof(VectorIndices))]
    public void AddSpecialOnlyPutsBosInFront(int index)
    {
        (string input, int[] expected) = LlamaSpmVocabularyFixture.Vectors[index];

        int[] actual = LlamaSpmVocabularyFixture.Tokenizer.Encode(input, addSpecial: true);

        Assert.Equal([1, .. expected], actual);
    }

    [Theory]
    [MemberData(nameof(VectorIndices))]
    public void DecodingTheExpectedIdsGivesTheInputBack(int index)
    {
        // SPM only escapes spaces, so every vector round-trips: the space prefix added by Encode is the leading
        // space that Decode strips from the first piece.
        (string input, int[] expected) = LlamaSpmVocabularyFixture.Vectors[index];

        Assert.Equal(input, LlamaSpmVocabularyFixture.Tokenizer.Decode(expected));
    }

    [Fact]
    public void ByteTokensCoverCharactersTheVocabularyLacks()
    {
        SentencePieceTokenizer tokenizer = LlamaSpmVocabularyFixture.Tokenizer;

        // "🦙" is not a LLaMA piece: it falls back to its UTF-8 bytes F0 9F A6 99, ids 3 + byte value.
        int[] ids = tokenizer.Encode("🦙", addSpecial: false);

        Assert.Equal([29871, 3 + 0xF0, 3 + 0x9F, 3 + 0xA6, 3 + 0x99], ids);
        Assert.Equal("<0xF0>", tokenizer.GetTokenText(ids[1]));
        Assert.Equal(TokenType.Byte, tokenizer.GetTokenType(ids[1]));
        Assert.Equal("🦙", tokenizer.Decode(ids));
    }

    [Fact]
    public void StreamingPiecesThroughTheUtf8DecoderRebuildsSplitCharacters()
    {
        SentencePieceTokenizer tokenizer = LlamaSpmVocabularyFixture.Tokenizer;
        const string text = "Llamas 🦙 say ½ hello";
        var decoder = new Utf8StreamDecoder();
        var pieces = new List<string>();

        foreach (int id in tokenizer.Encode(text, addSpecial: true))
        {
            pieces.Add(decoder.Push(tokenizer.TokenToBytes(id)));
        }

        pieces.Add(decoder.Flush());
        Assert.Equal(" " + text, string.Concat(pieces)); // raw pieces keep the prefix space, as llama.cpp streams them
        Assert.DoesNotContain(pieces, piece => piece.Contains('\uFFFD'));
    }

    [Fact]
    public void LongInputsRoundTrip()
    {
        SentencePieceTokenizer tokenizer = LlamaSpmVocabularyFixture.Tokenizer;
        string[] words = ["the", "llama", "tokenizer", "merges", "pairs", "by", "score", "naïve", "ünïcödé", "42"];
        string text = string.Join(" ", Enumerable.Range(0, 10_000).Select(i => words[i * 7 % words.Length]));
        string oneLongWord = new('a', 50_000);
        // Long inputs round-trip. Speed is a benchmark matter, not asserted here; a quadratic merge would make
        // this test take minutes rather than fail.
        int[] ids = tokenizer.Encode(text, addSpecial: true);
        int[] longWordIds = tokenizer.Encode(oneLongWord, addSpecial: false);
        Assert.True(ids.Length > 10_000);
        Assert.Equal(text, tokenizer.Decode(ids.AsSpan(1)));
        Assert.Equal(oneLongWord, tokenizer.Decode(longWordIds));
    }
}
