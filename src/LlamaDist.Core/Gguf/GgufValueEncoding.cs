using System.Buffers.Binary;
using System.Text;

namespace LlamaDist.Core.Gguf;

/// <summary>
/// Maps CLR values to GGUF value types and writes their little-endian encoding (the inverse of the parser).
/// </summary>
internal static class GgufValueEncoding
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Turns a caller's value into the form stored by the writer: scalars stay boxed, CLR arrays become
    /// <see cref="GgufArray"/>s. Throws <see cref="ArgumentException"/> for types GGUF cannot store.
    /// </summary>
    public static object Normalize(object value, string key)
    {
        ArgumentNullException.ThrowIfNull(value, key);
        switch (value)
        {
            case GgufArray array:
                ValidateArray(array, key);
                return array;
            case Array clrArray when clrArray.Rank == 1 && clrArray.GetType().GetElementType() is { } elementType:
                GgufValueType arrayType = ValueTypeOf(elementType, key);
                var wrapped = new GgufArray(arrayType, clrArray);
                ValidateArray(wrapped, key);
                return wrapped;
            default:
                ValueTypeOf(value.GetType(), key);
                return value;
        }
    }

    public static GgufValueType ValueTypeOf(object value) =>
        value is GgufArray ? GgufValueType.Array : ValueTypeOf(value.GetType(), "value");

    public static void WriteString(Stream stream, string text)
    {
        byte[] bytes = Utf8.GetBytes(text);
        WriteUInt64(stream, (ulong)bytes.Length);
        stream.Write(bytes);
    }

    public static void WriteUInt32(Stream stream, uint value)
    {
        Span<byte> buffer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, value);
        stream.Write(buffer);
    }

    public static void WriteUInt64(Stream stream, ulong value)
    {
        Span<byte> buffer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(buffer, value);
        stream.Write(buffer);
    }

    /// <summary>Writes the value's encoding (without its type id, which the caller writes first).</summary>
    public static void WriteValue(Stream stream, object value)
    {
        Span<byte> buffer = stackalloc byte[8];
        switch (value)
        {
            case byte v: stream.WriteByte(v); break;
            case sbyte v: stream.WriteByte((byte)v); break;
            case bool v: stream.WriteByte(v ? (byte)1 : (byte)0); break;
            case ushort v: BinaryPrimitives.WriteUInt16LittleEndian(buffer, v); stream.Write(buffer[..2]); break;
            case short v: BinaryPrimitives.WriteInt16LittleEndian(buffer, v); stream.Write(buffer[..2]); break;
            case uint v: BinaryPrimitives.WriteUInt32LittleEndian(buffer, v); stream.Write(buffer[..4]); break;
            case int v: BinaryPrimitives.WriteInt32LittleEndian(buffer, v); stream.Write(buffer[..4]); break;
            case float v: BinaryPrimitives.WriteSingleLittleEndian(buffer, v); stream.Write(buffer[..4]); break;
            case ulong v: BinaryPrimitives.WriteUInt64LittleEndian(buffer, v); stream.Write(buffer); break;
            case long v: BinaryPrimitives.WriteInt64LittleEndian(buffer, v); stream.Write(buffer); break;
            case double v: BinaryPrimitives.WriteDoubleLittleEndian(buffer, v); stream.Write(buffer); break;
            case string v: WriteString(stream, v); break;
            case GgufArray v: WriteArray(stream, v); break;
            default: throw new ArgumentException($"GGUF cannot store a {value.GetType().Name}.", nameof(value));
        }
    }

    private static void WriteArray(Stream stream, GgufArray array)
    {
        WriteUInt32(stream, (uint)array.ElementType);
        WriteUInt64(stream, (ulong)array.Count);
        foreach (object element in array.Values)
        {
            if (array.ElementType == GgufValueType.Array)
            {
                WriteArray(stream, (GgufArray)element);
            }
            else
            {
                WriteValue(stream, element);
            }
        }
    }

    private static void ValidateArray(GgufArray array, string key)
    {
        if (array.Values is string?[] strings && Array.IndexOf(strings, null) >= 0)
        {
            throw new ArgumentException($"String array '{key}' contains null.", nameof(key));
        }
        if (array.Values is GgufArray?[] nested)
        {
            foreach (GgufArray? inner in nested)
            {
                if (inner is null)
                {
                    throw new ArgumentException($"Nested array '{key}' contains null.", nameof(key));
                }
                ValidateArray(inner, key);
            }
        }
    }

    private static GgufValueType ValueTypeOf(Type type, string key)
    {
        if (type == typeof(byte)) return GgufValueType.UInt8;
        if (type == typeof(sbyte)) return GgufValueType.Int8;
        if (type == typeof(ushort)) return GgufValueType.UInt16;
        if (type == typeof(short)) return GgufValueType.Int16;
        if (type == typeof(uint)) return GgufValueType.UInt32;
        if (type == typeof(int)) return GgufValueType.Int32;
        if (type == typeof(float)) return GgufValueType.Float32;
        if (type == typeof(bool)) return GgufValueType.Bool;
        if (type == typeof(string)) return GgufValueType.String;
        if (type == typeof(ulong)) return GgufValueType.UInt64;
        if (type == typeof(long)) return GgufValueType.Int64;
        if (type == typeof(double)) return GgufValueType.Float64;
        if (type == typeof(GgufArray)) return GgufValueType.Array;
        throw new ArgumentException($"GGUF cannot store a {type.Name} (metadata key '{key}').", nameof(key));
    }
}
