using System.Buffers.Binary;
using System.Text;

namespace LlamaDist.Core.Tests.Gguf;

/// <summary>
/// Builds GGUF bytes field by field, including invalid ones, so malformation tests can place a bad value exactly
/// and know its byte offset (<see cref="Position"/> before writing the field).
/// </summary>
internal sealed class RawGgufBuilder
{
    private readonly MemoryStream _bytes = new();

    public long Position => _bytes.Position;

    /// <summary>magic, version, tensor count, key/value count.</summary>
    public static RawGgufBuilder WithHeader(ulong tensorCount, ulong keyValueCount, uint version = 3)
    {
        var builder = new RawGgufBuilder();
        builder.Raw("GGUF"u8).U32(version).U64(tensorCount).U64(keyValueCount);
        return builder;
    }

    public RawGgufBuilder Raw(ReadOnlySpan<byte> bytes)
    {
        _bytes.Write(bytes);
        return this;
    }

    public RawGgufBuilder U8(byte value)
    {
        _bytes.WriteByte(value);
        return this;
    }

    public RawGgufBuilder U32(uint value)
    {
        Span<byte> buffer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, value);
        return Raw(buffer);
    }

    public RawGgufBuilder U64(ulong value)
    {
        Span<byte> buffer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(buffer, value);
        return Raw(buffer);
    }

    public RawGgufBuilder Str(string text)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        return U64((ulong)utf8.Length).Raw(utf8);
    }

    /// <summary>key, uint32 type id 4 (uint32), value.</summary>
    public RawGgufBuilder KeyUInt32(string key, uint value) => Str(key).U32(4).U32(value);

    /// <summary>name, n_dims, ne..., type, offset.</summary>
    public RawGgufBuilder Tensor(string name, ulong[] dimensions, uint type, ulong offset)
    {
        Str(name).U32((uint)dimensions.Length);
        foreach (ulong extent in dimensions)
        {
            U64(extent);
        }
        return U32(type).U64(offset);
    }

    /// <summary>Zero bytes up to the next multiple of <paramref name="alignment"/>.</summary>
    public RawGgufBuilder PadTo(int alignment)
    {
        while (_bytes.Position % alignment != 0)
        {
            _bytes.WriteByte(0);
        }
        return this;
    }

    public RawGgufBuilder Zeros(int count) => Raw(new byte[count]);

    public byte[] ToArray() => _bytes.ToArray();
}
