namespace LlamaDist.Core.Tokenization;

/// <summary>
/// llama.cpp's clean_spaces step of llama_detokenize (Hugging Face's clean_up_tokenization_spaces): a space before
/// '?', '!', '.' or ',' is dropped, and so is a space before the contractions 's, 'm, 're and 've. Each rule looks at
/// the bytes as they were before it ran.
/// </summary>
internal static class DetokenizerSpaceCleanup
{
    public static byte[] Apply(List<byte> text)
    {
        byte[] afterPunctuation = RemoveSpaceBefore(text.ToArray(), static (bytes, index) =>
            bytes[index] is (byte)'?' or (byte)'!' or (byte)'.' or (byte)',');
        return RemoveSpaceBefore(afterPunctuation, static (bytes, index) =>
        {
            if (bytes[index] != (byte)'\'' || index + 1 >= bytes.Length)
            {
                return false;
            }

            byte first = bytes[index + 1];
            if (first is (byte)'s' or (byte)'m')
            {
                return true;
            }

            if (first is (byte)'t' or (byte)'d' || index + 2 >= bytes.Length)
            {
                return false;
            }

            byte second = bytes[index + 2];
            return (first == (byte)'r' && second == (byte)'e') || (first == (byte)'v' && second == (byte)'e');
        });
    }

    private static byte[] RemoveSpaceBefore(byte[] bytes, Func<byte[], int, bool> dropsPrecedingSpace)
    {
        if (bytes.Length == 0)
        {
            return bytes;
        }

        var result = new List<byte>(bytes.Length) { bytes[0] };
        for (int index = 1; index < bytes.Length; index++)
        {
            if (bytes[index - 1] == (byte)' ' && dropsPrecedingSpace(bytes, index))
            {
                result.RemoveAt(result.Count - 1);
            }

            result.Add(bytes[index]);
        }

        return result.ToArray();
    }
}
