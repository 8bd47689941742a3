namespace LlamaDist.Core.Gguf;

/*
 GGUF file layout (versions 2 and 3; all integers little-endian; v1 used 32-bit counts and is refused)

   offset 0   char[4]  magic "GGUF"                         (bytes 47 47 55 46)
          4   uint32   version                              (2 or 3; 3 only added big-endian files, refused here)
          8   uint64   tensor_count
         16   uint64   metadata_kv_count
         24   metadata_kv_count x {
                 string  key                                (string = uint64 byte length + UTF-8 bytes, no NUL)
                 uint32  value_type                         (GgufValueType)
                 value                                      (scalar: 1/2/4/8 bytes; bool: 1 byte 0 or 1; string;
                                                             array: uint32 element_type, uint64 count, count values,
                                                             nested arrays repeat the array encoding)
              }
              tensor_count x {
                 string  name
                 uint32  n_dims                             (1..4)
                 uint64  ne[n_dims]                         (ne0 first = innermost, contiguous; each >= 1)
                 uint32  ggml_type                          (GgmlType)
                 uint64  offset                             (relative to the data section, multiple of alignment)
              }
              zero padding up to a multiple of ALIGNMENT
   DataOffset tensor data; tensor i occupies [DataOffset + offset_i, + byte size); byte size =
              RowBytes(type, ne0) * ne1 * ne2 * ne3. Tensors are padded to ALIGNMENT.

 ALIGNMENT is the metadata value general.alignment (an unsigned integer, nonzero power of two) or 32 when absent.

 Every count and length below is checked against the bytes left in the mapping before anything is allocated, so a
 malformed header fails with a GgufFormatException at the offending field's offset instead of over-allocating.
*/

/// <summary>Everything the header says, parsed from the mapped bytes of a GGUF file.</summary>
internal sealed record GgufHeader(
    uint Version,
    int Alignment,
    long DataOffset,
    List<KeyValuePair<string, object>> Metadata,
    Dictionary<string, object> MetadataByKey,
    List<GgufTensorInfo> Tensors,
    Dictionary<string, GgufTensorInfo> TensorsByName);

/// <summary>Parses the GGUF header (see the layout above) with a <see cref="GgufByteReader"/>.</summary>
internal static class GgufHeaderParser
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian uint32
    public const int DefaultAlignment = 32;
    public const string AlignmentKey = "general.alignment";
    public const int MaxDimensions = 4;

    // A key/value needs at least: 8 (key length) + 4 (type) + 1 (smallest value).
    private const int MinimumKeyValueBytes = 13;

    // A tensor info needs at least: 8 (name length) + 4 (n_dims) + 8 (one ne) + 4 (type) + 8 (offset).
    private const int MinimumTensorInfoBytes = 32;

    // Nested arrays recurse; bound the depth so a hostile file cannot exhaust the stack.
    private const int MaxArrayNesting = 16;

    public static GgufHeader Parse(GgufByteReader reader)
    {
        uint magic = reader.ReadUInt32("magic");
        if (magic != Magic)
        {
            throw reader.Error(0, $"bad magic 0x{magic:X8}: not a GGUF file (expected the bytes 'GGUF').");
        }
        uint version = ReadVersion(reader);
        long tensorCount = reader.ReadCount("tensor count", MinimumTensorInfoBytes);
        long keyValueCount = reader.ReadCount("metadata key/value count", MinimumKeyValueBytes);

        var metadata = new List<KeyValuePair<string, object>>(InitialCapacity(keyValueCount));
        var metadataByKey = new Dictionary<string, object>(InitialCapacity(keyValueCount), StringComparer.Ordinal);
        long alignmentValueOffset = -1;
        for (long i = 0; i < keyValueCount; i++)
        {
            long keyOffset = reader.Position;
            string key = reader.ReadString("metadata key");
            if (metadataByKey.ContainsKey(key))
            {
                throw reader.Error(keyOffset, $"duplicate metadata key '{key}'.");
            }
            long typeOffset = reader.Position;
            GgufValueType type = ReadValueType(reader, $"value type of '{key}'");
            if (key == AlignmentKey)
            {
                alignmentValueOffset = typeOffset;
            }
            object value = ReadValue(reader, type, key, depth: 0);
            metadata.Add(new KeyValuePair<string, object>(key, value));
            metadataByKey.Add(key, value);
        }

        int alignment = ResolveAlignment(reader, metadataByKey, alignmentValueOffset);

        var infos = new List<(string Name, long[] Dimensions, GgmlType Type, long ElementCount, long ByteSize,
            ulong RelativeOffset, long FieldOffset)>(InitialCapacity(tensorCount));
        var names = new HashSet<string>(InitialCapacity(tensorCount), StringComparer.Ordinal);
        for (long i = 0; i < tensorCount; i++)
        {
            long infoOffset = reader.Position;
            string name = reader.ReadString("tensor name");
            if (!names.Add(name))
            {
                throw reader.Error(infoOffset, $"duplicate tensor name '{name}'.");
            }
            (long[] dimensions, long elementCount) = ReadDimensions(reader, name);
            long typeOffset = reader.Position;
            uint typeId = reader.ReadUInt32($"type of tensor '{name}'");
            var type = (GgmlType)typeId;
            if (!GgmlTypeInfo.IsKnown(type))
            {
                throw reader.Error(typeOffset, $"tensor '{name}' has unknown ggml type id {typeId}.");
            }
            long byteSize = ComputeByteSize(reader, name, type, dimensions, elementCount, typeOffset);
            long relativeFieldOffset = reader.Position;
            ulong relativeOffset = reader.ReadUInt64($"data offset of tensor '{name}'");
            if (relativeOffset % (ulong)alignment != 0)
            {
                throw reader.Error(relativeFieldOffset,
                    $"tensor '{name}' data offset {relativeOffset} is not a multiple of the alignment {alignment}.");
            }
            infos.Add((name, dimensions, type, elementCount, byteSize, relativeOffset, relativeFieldOffset));
        }

        long endOfInfos = reader.Position;
        long dataOffset = AlignUp(endOfInfos, alignment);
        if (infos.Count > 0 && dataOffset > reader.Length)
        {
            throw reader.Error(endOfInfos,
                $"the data section would start at {dataOffset}, past the end of the {reader.Length}-byte file.");
        }

        var tensors = new List<GgufTensorInfo>(infos.Count);
        var tensorsByName = new Dictionary<string, GgufTensorInfo>(infos.Count, StringComparer.Ordinal);
        foreach (var info in infos)
        {
            long dataBytes = reader.Length - dataOffset;
            if (info.RelativeOffset > (ulong)dataBytes || info.ByteSize > dataBytes - (long)info.RelativeOffset)
            {
                throw reader.Error(info.FieldOffset,
                    $"tensor '{info.Name}' data [{info.RelativeOffset}, +{info.ByteSize}) lies outside the " +
                    $"{dataBytes}-byte data section that starts at {dataOffset}.");
            }
            long relative = (long)info.RelativeOffset;
            var tensor = new GgufTensorInfo(info.Name, info.Dimensions, info.Type, relative, dataOffset + relative,
                info.ElementCount, info.ByteSize);
            tensors.Add(tensor);
            tensorsByName.Add(info.Name, tensor);
        }

        RejectOverlaps(reader, infos.Select(info => (info.Name, (long)info.RelativeOffset, info.ByteSize, info.FieldOffset)).ToList(), dataOffset);
        return new GgufHeader(version, alignment, dataOffset, metadata, metadataByKey, tensors, tensorsByName);
    }

    /// <summary>
    /// Tensors must not share bytes: llama.cpp lays each tensor after the previous one, so overlapping data (say,
    /// every offset 0) means a corrupt or hostile header, and weights read from it would silently alias.
    /// Sorted by offset, each tensor must end at or before the next begins. Offsets and sizes are already inside
    /// the data section, so the sums cannot overflow.
    /// </summary>
    private static void RejectOverlaps(GgufByteReader reader, List<(string Name, long Offset, long ByteSize, long FieldOffset)> tensors,
        long dataOffset)
    {
        tensors.Sort((a, b) => a.Offset != b.Offset ? a.Offset.CompareTo(b.Offset) : a.ByteSize.CompareTo(b.ByteSize));
        for (int i = 1; i < tensors.Count; i++)
        {
            var previous = tensors[i - 1];
            var current = tensors[i];
            if (current.Offset < previous.Offset + previous.ByteSize)
            {
                throw reader.Error(current.FieldOffset,
                    $"tensor '{current.Name}' data [{current.Offset}, +{current.ByteSize}) overlaps tensor '{previous.Name}' " +
                    $"[{previous.Offset}, +{previous.ByteSize}) in the data section that starts at {dataOffset}.");
            }
        }
    }

    // Counts are already bounded by the file size, but a huge file could still claim more than an int; the
    // collections grow past this start size on their own when a file really has that many entries.
    private static int InitialCapacity(long count) => (int)Math.Min(count, 4096);

    public static long AlignUp(long offset, int alignment) => (offset + alignment - 1) & ~((long)alignment - 1);

    private static uint ReadVersion(GgufByteReader reader)
    {
        uint version = reader.ReadUInt32("version");
        if (version is 2 or 3)
        {
            return version;
        }
        if (version == 1)
        {
            throw reader.Error(4, "GGUF version 1 (32-bit counts, 2023 pre-release format) is not supported; " +
                                  "convert the model to GGUF v3.");
        }
        if (version is 0x02000000 or 0x03000000)
        {
            throw reader.Error(4, "big-endian GGUF files are not supported.");
        }
        throw reader.Error(4, $"unsupported GGUF version {version} (supported: 2 and 3).");
    }

    private static GgufValueType ReadValueType(GgufByteReader reader, string what)
    {
        long offset = reader.Position;
        uint id = reader.ReadUInt32(what);
        if (id > (uint)GgufValueType.Float64)
        {
            throw reader.Error(offset, $"unknown {what} id {id}.");
        }
        return (GgufValueType)id;
    }

    private static object ReadValue(GgufByteReader reader, GgufValueType type, string key, int depth)
    {
        switch (type)
        {
            case GgufValueType.UInt8: return reader.ReadByte(key);
            case GgufValueType.Int8: return (sbyte)reader.ReadByte(key);
            case GgufValueType.UInt16: return reader.ReadUInt16(key);
            case GgufValueType.Int16: return (short)reader.ReadUInt16(key);
            case GgufValueType.UInt32: return reader.ReadUInt32(key);
            case GgufValueType.Int32: return (int)reader.ReadUInt32(key);
            case GgufValueType.Float32: return reader.ReadSingle(key);
            case GgufValueType.Bool: return ReadBool(reader, key);
            case GgufValueType.String: return reader.ReadString($"string value of '{key}'");
            case GgufValueType.UInt64: return reader.ReadUInt64(key);
            case GgufValueType.Int64: return (long)reader.ReadUInt64(key);
            case GgufValueType.Float64: return reader.ReadDouble(key);
            case GgufValueType.Array: return ReadArray(reader, key, depth);
            default: throw reader.Error(reader.Position, $"unknown value type {(uint)type} for '{key}'.");
        }
    }

    private static bool ReadBool(GgufByteReader reader, string key)
    {
        long offset = reader.Position;
        byte value = reader.ReadByte(key);
        return value switch
        {
            0 => false,
            1 => true,
            _ => throw reader.Error(offset, $"bool value of '{key}' is {value}, not 0 or 1."),
        };
    }

    private static GgufArray ReadArray(GgufByteReader reader, string key, int depth)
    {
        long arrayOffset = reader.Position;
        if (depth >= MaxArrayNesting)
        {
            throw reader.Error(arrayOffset, $"'{key}' nests arrays more than {MaxArrayNesting} deep.");
        }
        GgufValueType elementType = ReadValueType(reader, $"array element type of '{key}'");
        long count = reader.ReadCount($"array length of '{key}'", MinimumEncodedSize(elementType));
        if (count > Array.MaxLength)
        {
            throw reader.Error(arrayOffset + 4, $"array '{key}' has {count} elements, more than an array can hold.");
        }
        int length = (int)count;
        Array values = elementType switch
        {
            GgufValueType.UInt8 => ReadBlock<byte>(reader, length, key),
            GgufValueType.Int8 => ReadBlock<sbyte>(reader, length, key),
            GgufValueType.UInt16 => ReadBlock<ushort>(reader, length, key),
            GgufValueType.Int16 => ReadBlock<short>(reader, length, key),
            GgufValueType.UInt32 => ReadBlock<uint>(reader, length, key),
            GgufValueType.Int32 => ReadBlock<int>(reader, length, key),
            GgufValueType.Float32 => ReadBlock<float>(reader, length, key),
            GgufValueType.UInt64 => ReadBlock<ulong>(reader, length, key),
            GgufValueType.Int64 => ReadBlock<long>(reader, length, key),
            GgufValueType.Float64 => ReadBlock<double>(reader, length, key),
            GgufValueType.Bool => ReadBools(reader, length, key),
            GgufValueType.String => ReadStrings(reader, length, key),
            _ => ReadNested(reader, length, key, depth),
        };
        return new GgufArray(elementType, values);
    }

    /// <summary>Smallest encoding of one array element, used to bound counts before allocating.</summary>
    private static int MinimumEncodedSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        GgufValueType.String => 8,      // the length prefix of an empty string
        _ => 12,                        // a nested array: element type + count
    };

    private static unsafe T[] ReadBlock<T>(GgufByteReader reader, int length, string key) where T : unmanaged
    {
        // The count was bounded by the remaining bytes, so the copy below stays inside the mapping.
        long byteCount = (long)length * sizeof(T);
        if (byteCount > int.MaxValue)
        {
            throw reader.Error(reader.Position, $"array '{key}' holds {byteCount} bytes, more than 2 GiB of metadata.");
        }
        var values = new T[length];
        if (BitConverter.IsLittleEndian)
        {
            ReadOnlySpan<byte> bytes = reader.ReadSpan((int)byteCount, key);
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(bytes).CopyTo(values);
            return values;
        }
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = sizeof(T) switch
            {
                1 => Reinterpret<byte, T>(reader.ReadByte(key)),
                2 => Reinterpret<ushort, T>(reader.ReadUInt16(key)),
                4 => Reinterpret<uint, T>(reader.ReadUInt32(key)),
                _ => Reinterpret<ulong, T>(reader.ReadUInt64(key)),
            };
        }
        return values;
    }

    private static TTo Reinterpret<TFrom, TTo>(TFrom value) where TFrom : unmanaged where TTo : unmanaged =>
        System.Runtime.CompilerServices.Unsafe.BitCast<TFrom, TTo>(value);

    private static bool[] ReadBools(GgufByteReader reader, int length, string key)
    {
        var values = new bool[length];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = ReadBool(reader, key);
        }
        return values;
    }

    private static string[] ReadStrings(GgufByteReader reader, int length, string key)
    {
        var values = new string[length];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = reader.ReadArrayString(key, i);
        }
        return values;
    }

    private static GgufArray[] ReadNested(GgufByteReader reader, int length, string key, int depth)
    {
        var values = new GgufArray[length];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = ReadArray(reader, key, depth + 1);
        }
        return values;
    }

    private static int ResolveAlignment(GgufByteReader reader, Dictionary<string, object> metadata, long valueOffset)
    {
        if (!metadata.TryGetValue(AlignmentKey, out object? value))
        {
            return DefaultAlignment;
        }
        ulong alignment = value switch
        {
            byte v => v,
            ushort v => v,
            uint v => v,
            ulong v => v,
            sbyte v when v > 0 => (ulong)v,
            short v when v > 0 => (ulong)v,
            int v when v > 0 => (ulong)v,
            long v when v > 0 => (ulong)v,
            _ => 0,
        };
        if (alignment == 0 || alignment > 1u << 30 || (alignment & (alignment - 1)) != 0)
        {
            throw reader.Error(valueOffset,
                $"{AlignmentKey} is {value} ({value.GetType().Name}); it must be a nonzero power of two up to 2^30.");
        }
        return (int)alignment;
    }

    private static (long[] Dimensions, long ElementCount) ReadDimensions(GgufByteReader reader, string name)
    {
        long countOffset = reader.Position;
        uint dimensionCount = reader.ReadUInt32($"dimension count of tensor '{name}'");
        if (dimensionCount is 0 or > MaxDimensions)
        {
            throw reader.Error(countOffset,
                $"tensor '{name}' has {dimensionCount} dimensions; ggml supports 1 to {MaxDimensions}.");
        }
        var dimensions = new long[dimensionCount];
        long elementCount = 1;
        for (int d = 0; d < dimensions.Length; d++)
        {
            long offset = reader.Position;
            ulong extent = reader.ReadUInt64($"dimension {d} of tensor '{name}'");
            if (extent == 0 || extent > long.MaxValue)
            {
                throw reader.Error(offset, $"tensor '{name}' dimension {d} is {extent}; it must be 1 to 2^63-1.");
            }
            dimensions[d] = (long)extent;
            if (elementCount > long.MaxValue / dimensions[d])
            {
                throw reader.Error(offset, $"tensor '{name}' element count overflows 64 bits at dimension {d}.");
            }
            elementCount *= dimensions[d];
        }
        return (dimensions, elementCount);
    }

    private static long ComputeByteSize(GgufByteReader reader, string name, GgmlType type, long[] dimensions,
        long elementCount, long typeOffset)
    {
        int blockSize = GgmlTypeInfo.BlockSize(type);
        if (dimensions[0] % blockSize != 0)
        {
            throw reader.Error(typeOffset,
                $"tensor '{name}' row length {dimensions[0]} is not a multiple of the {GgmlTypeInfo.Name(type)} " +
                $"block size {blockSize}.");
        }
        long blocks = elementCount / blockSize;
        int blockBytes = GgmlTypeInfo.BlockBytes(type);
        if (blocks > long.MaxValue / blockBytes)
        {
            throw reader.Error(typeOffset, $"tensor '{name}' byte size overflows 64 bits.");
        }
        return blocks * blockBytes;
    }
}
