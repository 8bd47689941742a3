namespace LlamaDist.Core.Tokenization;

/// <summary>
/// GPT-2's reversible byte-to-character table: byte-level BPE vocabularies spell every byte as one printable character
/// ('!'..'~', '¡'..'¬', '®'..'ÿ' stand for themselves; the other 68 bytes take U+0100 upward in byte order, so ' ' is
/// 'Ġ' and '\n' is 'Ċ'). Encoding maps UTF-8 bytes to these characters; decoding maps them back.
/// </summary>
internal static class ByteUnicodeMap
{
    private static readonly char[] CharByByte = BuildTable();
    private static readonly Dictionary<char, byte> ByteByChar = Enumerable.Range(0, 256)
        .ToDictionary(value => CharByByte[value], value => (byte)value);

    /// <summary>The character that spells byte <paramref name="value"/>.</summary>
    public static char ToChar(byte value) => CharByByte[value];

    /// <summary>The byte a vocabulary character spells, if it is one of the 256.</summary>
    public static bool TryToByte(char character, out byte value) => ByteByChar.TryGetValue(character, out value);

    private static char[] BuildTable()
    {
        var table = new char[256];
        int next = 256;
        for (int value = 0; value < 256; value++)
        {
            bool printable = value is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            table[value] = printable ? (char)value : (char)next++;
        }

        return table;
    }
}
