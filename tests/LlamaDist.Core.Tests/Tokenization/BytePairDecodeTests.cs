using System.Text;
using LlamaDist.Core.Tokenization;
using Xunit;

namespace LlamaDist.Core.Tests.Tokenization;

/// <summary>Byte-level BPE ids back to text: whole pieces, characters split across tokens, special tokens.</summary>
public sealed class BytePairDecodeTests
{
    private static ITokenizer Gpt2 => VocabularyTestVectors.Tokenizer("gpt-2");

    [Fact]
    public void ACharacterSplitAcrossTokensStreamsOutWholeThroughTheUtf8Decoder()
    {
        const string text = "🦙 naïve 日本";
        int[] ids = Gpt2.Encode(text, addSpecial: false);
        var decoder = new Utf8StreamDecoder();
        var streamed = new StringBuilder();

        foreach (int id in ids)
        {
            string part = decoder.Push(Gpt2.TokenToBytes(id));
            Assert.DoesNotContain('\uFFFD', part);
            streamed.Append(part);
        }

        streamed.Append(decoder.Flush());
        Assert.True(ids.Length > text.Length / 2, "the emoji and CJK characters take several byte tokens each");
        Assert.Equal(text, streamed.ToString());
        Assert.Equal(text, Gpt2.Decode(ids));
    }

    [Fact]
    public void APieceThatIsPartOfACharacterIsReplacementCharacterOnItsOwn()
    {
        int[] ids = Gpt2.Encode("🦙", addSpecial: false);

        Assert.Equal(4, ids.Sum(id => Gpt2.TokenToBytes(id).Length));
        Assert.Contains(ids, id => Gpt2.TokenToPiece(id).Contains('\uFFFD'));
    }

    [Fact]
    public void SpacesBecomeTheGpt2AlphabetInTheVocabularyAndBytesAgainWhenDecoded()
    {
        int[] ids = Gpt2.Encode(" hello\n", addSpecial: false);

        Assert.Equal("Ġhello", Gpt2.GetTokenText(ids[0]));
        Assert.Equal(" hello", Gpt2.TokenToPiece(ids[0]));
        Assert.Equal("Ċ", Gpt2.GetTokenText(ids[^1]));
    }

    [Fact]
    public void ControlTokensRenderOnlyWhenAsked()
    {
        var gpt2 = (BytePairTokenizer)Gpt2;
        int endOfText = gpt2.EosId;

        Assert.Equal("<|endoftext|>", gpt2.GetTokenText(endOfText));
        Assert.Equal("", gpt2.Decode([endOfText]));
        Assert.Equal("a<|endoftext|>", gpt2.Decode([gpt2.Encode("a", false)[0], endOfText], removeSpecial: false, unparseSpecial: true));
        Assert.True(gpt2.IsEndOfGeneration(endOfText));
    }
}
