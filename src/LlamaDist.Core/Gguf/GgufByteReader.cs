using System.Buffers.Binary;
using System.Text;

namespace LlamaDist.Core.Gguf;

/// <summary>
/// Little-endian reader over a fixed block of memory (the mapped file). Every read is checked against the end of
/// the block first, and every variable-size read (strings, array counts) is bounded by the bytes still left, so a
/// hostile length can neither run past the mapping nor make us allocate more than the file could hold.
/// Failures are <see cref="GgufFormatException"/>s naming the file and the offset of the field being read.
/// </summary>
internal sealed unsafe class GgufByteReader
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    private readonly byte* _start;

    public GgufByteReader(byte* start, long length, string filePath)
    {
        _start = start;
        Length = length;
        FilePath = filePath;
    }

    public string FilePath { get; }

    public long Length { get; }

    public long Position { get; private set; }

    public long Remaining => Length - Position;

    public GgufFormatException Error(long offset, string problem) => new(FilePath, offset, problem);

    public byte ReadByte(string what) => *Take(1, what);

    public ushort ReadUInt16(string what) => BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(Take(2, what), 2));

    public uint ReadUInt32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(Take(4, what), 4));

    public ulong ReadUInt64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(Take(8, what), 8));

    public float ReadSingle(string what) => BinaryPrimitives.ReadSingleLittleEndian(new ReadOnlySpan<byte>(Take(4, what), 4));

    public double ReadDouble(string what) => BinaryPrimitives.ReadDoubleLittleEndian(new ReadOnlySpan<byte>(Take(8, what), 8));

    /// <summary>A GGUF string: uint64 byte length, then that many UTF-8 bytes (no terminator).</summary>
    public string ReadString(string what) => ReadStringCore(what, elementIndex: -1);

    /// <summary>
    /// Element <paramref name="elementIndex"/> of the string array <paramref name="key"/>. The description is
    /// only composed on failure: vocabularies hold tens of thousands of strings and are read on every open.
    /// </summary>
    public string ReadArrayString(string key, int elementIndex) => ReadStringCore(key, elementIndex);

    private string ReadStringCore(string what, int elementIndex)
    {
        long lengthOffset = Position;
        if (Remaining < 8)
        {
            throw Error(lengthOffset, $"file ends inside the length of {Describe(what, elementIndex)} " +
                                      $"(needs 8 bytes, {Remaining} remain).");
        }
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(_start + Position, 8));
        Position += 8;
        if (length > (ulong)Remaining)
        {
            throw Error(lengthOffset,
                $"{Describe(what, elementIndex)} claims {length} bytes but only {Remaining} remain in the file.");
        }
        if (length > int.MaxValue)
        {
            throw Error(lengthOffset, $"{Describe(what, elementIndex)} length {length} exceeds the largest supported string.");
        }
        int byteCount = (int)length;
        byte* bytes = _start + Position;
        Position += byteCount;
        return Utf8.GetString(bytes, byteCount);
    }

    private static string Describe(string what, int elementIndex) =>
        elementIndex < 0 ? what : $"element {elementIndex} of '{what}'";

    /// <summary>Returns the next <paramref name="count"/> bytes without copying them.</summary>
    public ReadOnlySpan<byte> ReadSpan(int count, string what) => new(Take(count, what), count);

    /// <summary>
    /// Reads an element count and checks that <paramref name="minimumBytesPerElement"/> times it still fits in
    /// the remaining bytes, so callers may allocate <c>count</c> slots safely.
    /// </summary>
    public long ReadCount(string what, int minimumBytesPerElement)
    {
        long countOffset = Position;
        ulong count = ReadUInt64(what);
        ulong affordable = (ulong)Remaining / (ulong)minimumBytesPerElement;
        if (count > affordable)
        {
            throw Error(countOffset,
                $"{what} is {count}, but the {Remaining} bytes left in the file hold at most {affordable}.");
        }
        return (long)count;
    }

    /// <summary>Moves to an absolute offset (used to skip alignment padding); the offset must be inside the block.</summary>
    public void Seek(long offset)
    {
        if (offset < 0 || offset > Length)
        {
            throw Error(Position, $"offset {offset} lies outside the {Length}-byte file.");
        }
        Position = offset;
    }

    private byte* Take(int count, string what)
    {
        if (count > Remaining)
        {
            throw Error(Position, $"file ends inside {what} (needs {count} bytes, {Remaining} remain).");
        }
        byte* pointer = _start + Position;
        Position += count;
        return pointer;
    }
}
