namespace LlamaDist.Core.Gguf;

/// <summary>
/// Writes a GGUF file (layout in GgufHeaderParser.cs) without holding tensor data in memory: tensors are declared
/// with their shape up front and their bytes are produced by a callback while <see cref="WriteTo"/> streams the
/// file, so a multi-gigabyte model needs only the caller's row buffers.
/// Metadata keeps the order of the first <see cref="SetMetadata"/> call per key; general.alignment is written
/// (as uint32) whenever the alignment is not the default 32.
/// </summary>
public sealed class GgufWriter
{
    private const int StreamBufferBytes = 1 << 20;

    private readonly List<string> _keyOrder = [];
    private readonly Dictionary<string, object> _metadata = new(StringComparer.Ordinal);
    private readonly List<PendingTensor> _tensors = [];
    private readonly HashSet<string> _tensorNames = new(StringComparer.Ordinal);

    /// <param name="version">2 or 3; the two share one encoding (v3 only added big-endian files).</param>
    /// <param name="alignment">Data alignment: a nonzero power of two.</param>
    public GgufWriter(uint version = 3, int alignment = GgufHeaderParser.DefaultAlignment)
    {
        if (version is not (2 or 3))
        {
            throw new ArgumentOutOfRangeException(nameof(version), version, "Only GGUF versions 2 and 3 can be written.");
        }
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "Alignment must be a nonzero power of two.");
        }
        Version = version;
        Alignment = alignment;
    }

    public uint Version { get; }

    public int Alignment { get; }

    /// <summary>
    /// Sets a metadata value. The CLR type picks the GGUF type (byte→uint8, sbyte→int8, ushort, short, uint, int,
    /// float, bool, string, ulong, long, double); a one-dimensional array of those becomes an array; a
    /// <see cref="GgufArray"/> is stored as given (nested arrays included). Setting a key again replaces the value
    /// but keeps its first position. general.alignment is managed by the writer and must equal <see cref="Alignment"/>.
    /// </summary>
    public void SetMetadata(string key, object value)
    {
        ArgumentNullException.ThrowIfNull(key);
        object normalized = GgufValueEncoding.Normalize(value, key);
        if (key == GgufHeaderParser.AlignmentKey)
        {
            bool matches = normalized switch
            {
                uint v => v == (uint)Alignment,
                int v => v == Alignment,
                _ => false,
            };
            if (!matches)
            {
                throw new ArgumentException(
                    $"{GgufHeaderParser.AlignmentKey} must be the writer's alignment {Alignment} (uint), not {value}.",
                    nameof(value));
            }
            normalized = (uint)Alignment;
        }
        if (!_metadata.ContainsKey(key))
        {
            _keyOrder.Add(key);
        }
        _metadata[key] = normalized;
    }

    /// <summary>
    /// Declares a tensor. <paramref name="dimensions"/> lists ne0 first (row length), 1 to 4 extents, each ≥ 1,
    /// ne0 a multiple of the type's block size. <paramref name="writeData"/> is called once during
    /// <see cref="WriteTo"/> and must write exactly the tensor's byte size to the stream it is given.
    /// </summary>
    public void AddTensor(string name, GgmlType type, long[] dimensions, Action<Stream> writeData)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(dimensions);
        ArgumentNullException.ThrowIfNull(writeData);
        if (!GgmlTypeInfo.IsKnown(type))
        {
            throw new ArgumentException($"Unknown ggml type id {(uint)type}.", nameof(type));
        }
        if (dimensions.Length is 0 or > GgufHeaderParser.MaxDimensions)
        {
            throw new ArgumentException($"Tensor '{name}' needs 1 to 4 dimensions, not {dimensions.Length}.",
                nameof(dimensions));
        }
        long elementCount = 1;
        foreach (long extent in dimensions)
        {
            if (extent < 1 || elementCount > long.MaxValue / extent)
            {
                throw new ArgumentException($"Tensor '{name}' has an invalid shape [{string.Join(", ", dimensions)}].",
                    nameof(dimensions));
            }
            elementCount *= extent;
        }
        // Row length must be whole blocks; RowBytes throws ArgumentException otherwise.
        long byteSize = GgmlTypeInfo.RowBytes(type, dimensions[0]) * (elementCount / dimensions[0]);
        if (!_tensorNames.Add(name))
        {
            throw new ArgumentException($"Tensor '{name}' was already added.", nameof(name));
        }
        _tensors.Add(new PendingTensor(name, type, (long[])dimensions.Clone(), byteSize, writeData));
    }

    /// <summary>
    /// Writes the file. If a data callback fails or writes the wrong number of bytes, the partial file is deleted
    /// and the exception propagates (<see cref="InvalidOperationException"/> for a wrong byte count).
    /// </summary>
    public void WriteTo(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        bool created = false;
        try
        {
            using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, StreamBufferBytes);
            created = true;
            WriteHeader(file);
            foreach (PendingTensor tensor in _tensors)
            {
                WriteTensorData(file, tensor);
            }
        }
        catch when (created)
        {
            File.Delete(path);
            throw;
        }
    }

    private void WriteHeader(Stream file)
    {
        List<KeyValuePair<string, object>> entries = _keyOrder.Select(k => new KeyValuePair<string, object>(k, _metadata[k])).ToList();
        if (Alignment != GgufHeaderParser.DefaultAlignment && !_metadata.ContainsKey(GgufHeaderParser.AlignmentKey))
        {
            entries.Add(new(GgufHeaderParser.AlignmentKey, (uint)Alignment));
        }

        GgufValueEncoding.WriteUInt32(file, GgufHeaderParser.Magic);
        GgufValueEncoding.WriteUInt32(file, Version);
        GgufValueEncoding.WriteUInt64(file, (ulong)_tensors.Count);
        GgufValueEncoding.WriteUInt64(file, (ulong)entries.Count);
        foreach ((string key, object value) in entries)
        {
            GgufValueEncoding.WriteString(file, key);
            GgufValueEncoding.WriteUInt32(file, (uint)GgufValueEncoding.ValueTypeOf(value));
            GgufValueEncoding.WriteValue(file, value);
        }

        long relativeOffset = 0;
        foreach (PendingTensor tensor in _tensors)
        {
            GgufValueEncoding.WriteString(file, tensor.Name);
            GgufValueEncoding.WriteUInt32(file, (uint)tensor.Dimensions.Length);
            foreach (long extent in tensor.Dimensions)
            {
                GgufValueEncoding.WriteUInt64(file, (ulong)extent);
            }
            GgufValueEncoding.WriteUInt32(file, (uint)tensor.Type);
            GgufValueEncoding.WriteUInt64(file, (ulong)relativeOffset);
            relativeOffset = GgufHeaderParser.AlignUp(relativeOffset + tensor.ByteSize, Alignment);
        }
        Pad(file);
    }

    private void WriteTensorData(Stream file, PendingTensor tensor)
    {
        using var window = new ExactLengthWriteStream(file, tensor.ByteSize, tensor.Name);
        tensor.WriteData(window);
        window.EnsureComplete();
        Pad(file);
    }

    private void Pad(Stream file)
    {
        long padding = GgufHeaderParser.AlignUp(file.Position, Alignment) - file.Position;
        Span<byte> zeros = stackalloc byte[256];
        while (padding > 0)
        {
            int chunk = (int)Math.Min(padding, zeros.Length);
            file.Write(zeros[..chunk]);
            padding -= chunk;
        }
    }

    private sealed record PendingTensor(string Name, GgmlType Type, long[] Dimensions, long ByteSize,
        Action<Stream> WriteData);
}
