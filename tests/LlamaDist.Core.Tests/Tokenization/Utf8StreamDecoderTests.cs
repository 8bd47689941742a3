using System.Text;
using LlamaDist.Core.Tokenization;
using Xunit;

namespace LlamaDist.Core.Tests.Tokenization;

public sealed class Utf8StreamDecoderTests
{
    [Fact]
    public void ATwoByteCharacterSplitAcrossPushesComesOutWhole()
    {
        var decoder = new Utf8StreamDecoder();

        Assert.Equal("a", decoder.Push([(byte)'a', 0xC3]));
        Assert.Equal("é", decoder.Push([0xA9]));
        Assert.Equal("", decoder.Flush());
    }

    [Fact]
    public void AFourByteEmojiFedOneByteAtATimeAppearsOnlyAtItsLastByte()
    {
        var decoder = new Utf8StreamDecoder();
        byte[] emoji = Encoding.UTF8.GetBytes("🦙"); // F0 9F A6 99, a surrogate pair in .NET

        Assert.Equal("", decoder.Push(emoji.AsSpan(0, 1)));
        Assert.Equal("", decoder.Push(emoji.AsSpan(1, 1)));
        Assert.Equal("", decoder.Push(emoji.AsSpan(2, 1)));
        Assert.Equal("🦙", decoder.Push(emoji.AsSpan(3, 1)));
    }

    [Fact]
    public void AStreamOfTokenBytesReassemblesTheText()
    {
        string text = "Grüße 🦙 llamas! ½";
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var decoder = new Utf8StreamDecoder();
        var output = new StringBuilder();

        // Chunks of 3 bytes cut through most multi-byte characters.
        for (int offset = 0; offset < bytes.Length; offset += 3)
        {
            output.Append(decoder.Push(bytes.AsSpan(offset, Math.Min(3, bytes.Length - offset))));
        }

        output.Append(decoder.Flush());
        Assert.Equal(text, output.ToString());
    }

    [Fact]
    public void InvalidAndDanglingBytesBecomeReplacementCharacters()
    {
        var decoder = new Utf8StreamDecoder();

        Assert.Equal("\uFFFDx", decoder.Push([0xFF, (byte)'x']));
        Assert.Equal("", decoder.Push([0xE2, 0x96]));  // first two bytes of "▁"
        Assert.Equal("\uFFFD", decoder.Flush());
        Assert.Equal("y", decoder.Push([(byte)'y'])); // flushed decoder starts clean
    }
}
