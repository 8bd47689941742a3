using System.Text;

namespace LlamaDist.Core.Tokenization;

/// <summary>Input clean-up shared by the tokenizers.</summary>
internal static class TextSanitizer
{
    /// <summary>A lone UTF-16 surrogate has no UTF-8 form; like any UTF-8 conversion, it becomes U+FFFD.</summary>
    public static string ReplaceLoneSurrogates(string text)
    {
        int index = 0;
        while (index < text.Length)
        {
            if (Rune.DecodeFromUtf16(text.AsSpan(index), out _, out int consumed) != System.Buffers.OperationStatus.Done)
            {
                break;
            }

            index += consumed;
        }

        if (index == text.Length)
        {
            return text;
        }

        var builder = new StringBuilder(text.Length);
        builder.Append(text, 0, index);
        while (index < text.Length)
        {
            Rune.DecodeFromUtf16(text.AsSpan(index), out Rune rune, out int consumed); // invalid -> U+FFFD, 1 char
            builder.Append(rune.ToString());
            index += consumed;
        }

        return builder.ToString();
    }

    /// <summary>Text from a file, cut to 64 characters for an error message (a hostile file's value could be
    /// megabytes long).</summary>
    public static string ForMessage(string text) => text.Length <= 64 ? text : text[..64] + "...";
}
