using System.Text;

namespace LlamaDist.Core.Tokenization;

/// <summary>
/// Turns a stream of token bytes into text as it arrives. A character split across tokens (an emoji emitted as four
/// byte tokens, say) is held back until its last byte comes, so callers never print half a character; bytes that can
/// never form a character become U+FFFD, as in any lenient UTF-8 decode. Not thread-safe: one decoder per stream.
/// </summary>
public sealed class Utf8StreamDecoder
{
    private readonly Decoder decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();

    /// <summary>Adds bytes and returns every character they complete (possibly empty).</summary>
    public string Push(ReadOnlySpan<byte> bytes) => Decode(bytes, flush: false);

    /// <summary>Ends the stream: returns U+FFFD for a dangling incomplete sequence (empty if none) and resets the decoder.</summary>
    public string Flush() => Decode(ReadOnlySpan<byte>.Empty, flush: true);

    /// <summary>Forgets any held-back bytes.</summary>
    public void Reset() => decoder.Reset();

    private string Decode(ReadOnlySpan<byte> bytes, bool flush)
    {
        int charCount = decoder.GetCharCount(bytes, flush);
        if (charCount == 0)
        {
            // GetCharCount does not consume; still feed the bytes so they are buffered for the next push.
            decoder.GetChars(bytes, Span<char>.Empty, flush);
            return string.Empty;
        }

        Span<char> chars = charCount <= 256 ? stackalloc char[charCount] : new char[charCount];
        int written = decoder.GetChars(bytes, chars, flush);
        return new string(chars[..written]);
    }
}
