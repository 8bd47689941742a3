namespace LlamaDist.Core.Tokenization;

/// <summary>
/// GPT-2's reversible byte-to-character table: byte-level BPE vocabularies spell every byte as one printable character
/// ('!'..'~', '¡'..'¬', '®'..'ÿ' stand for themselves; the other 68 bytes take U+0100 upward in byte order, so ' ' is
/// 'Ġ' and '\n' is 'Ċ'). Encoding maps UTF-8 bytes to these characters; decoding maps them back.
/// </summary>
internal static class ByteUnicodeMap
{
    private static readonly char[] CharByByte = BuildTable();
    // The 256 characters all lie below U+0144, so a flat table indexed by character answers the reverse lookup.
    private static readonly short[] ByteByChar = BuildReverseTable();

    /// <summary>The character that spells byte <paramref name="value"/>.</summary>
    public static char ToChar(byte value) => CharByByte[value];

    /// <summary>The byte a vocabulary character spells, if it is one of the 256.</summary>
    public static bool TryToByte(char character, out byte value)
    {
        short entry = character < ByteByChar.Length ? ByteByChar[character] : (short)-1;
        value = (byte)entry;
        return entry >= 0;
    }

    private static short[] BuildReverseTable()
    {
        var table = new short[CharByByte.Max() + 1];
        Array.Fill(table, (short)-1);
        for (int value = 0; value < 256; value++)
        {
            table[CharByByte[value]] = (short)value;
        }

        return table;
    }

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
