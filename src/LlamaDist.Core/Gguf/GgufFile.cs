using System.IO.MemoryMappedFiles;

namespace LlamaDist.Core.Gguf;

/// <summary>
/// A GGUF model file mapped read-only into memory. The header (metadata and tensor infos) is parsed once from the
/// mapped bytes (layout documented in GgufHeaderParser.cs). Tensor data is read in place: <see cref="GetTensorPointer"/>
/// and <see cref="GetTensorBytes"/> point straight into the mapping, which stays valid until <see cref="Dispose"/>,
/// unless <see cref="ReadTensorsIntoMemory"/> copied the tensor into process memory, in which case they point at
/// that copy (same bytes, same lifetime). A copy the caller had rearranged for its kernels is served only by
/// <see cref="GetRearrangedTensorPointer"/>: the file's bytes stay what the other two return (for hashing and
/// streaming them). Thread-safe for reading once opened.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    private readonly MemoryMappedFile _mapping;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _start;
    private readonly Dictionary<string, object> _metadataByKey;
    private readonly Dictionary<string, GgufTensorInfo> _tensorsByName;
    private ResidentTensorBlock[] _residentBlocks = [];
    private bool _disposed;

    private GgufFile(string filePath, long fileSize, MemoryMappedFile mapping, MemoryMappedViewAccessor view,
        byte* start, GgufHeader header)
    {
        FilePath = filePath;
        FileSize = fileSize;
        _mapping = mapping;
        _view = view;
        _start = start;
        Version = header.Version;
        Alignment = header.Alignment;
        DataOffset = header.DataOffset;
        MetadataEntries = header.Metadata.AsReadOnly();
        _metadataByKey = header.MetadataByKey;
        Metadata = _metadataByKey.AsReadOnly();
        Tensors = header.Tensors.AsReadOnly();
        _tensorsByName = header.TensorsByName;
    }

    public string FilePath { get; }

    public uint Version { get; }

    /// <summary>Alignment of the data section and of every tensor (general.alignment, default 32).</summary>
    public int Alignment { get; }

    /// <summary>Absolute offset of the data section.</summary>
    public long DataOffset { get; }

    public long FileSize { get; }

    /// <summary>Metadata in file order. Scalars are boxed CLR values; arrays are <see cref="GgufArray"/>.</summary>
    public IReadOnlyList<KeyValuePair<string, object>> MetadataEntries { get; }

    public IReadOnlyDictionary<string, object> Metadata { get; }

    /// <summary>Tensor infos in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary>
    /// Maps <paramref name="path"/> and parses its header. Malformed or unsupported files throw
    /// <see cref="GgufFormatException"/>; a missing or unreadable file throws the usual IO exceptions.
    /// </summary>
    public static GgufFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string fullPath = Path.GetFullPath(path);
        var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read);
        MemoryMappedFile? mapping = null;
        MemoryMappedViewAccessor? view = null;
        bool pointerAcquired = false;
        try
        {
            long fileSize = stream.Length;
            if (fileSize == 0)
            {
                throw new GgufFormatException(fullPath, 0, "the file is empty.");
            }
            mapping = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0,
                MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* start = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
            pointerAcquired = true;
            start += view.PointerOffset;
            GgufHeader header = GgufHeaderParser.Parse(new GgufByteReader(start, fileSize, fullPath));
            return new GgufFile(fullPath, fileSize, mapping, view, start, header);
        }
        catch
        {
            if (pointerAcquired)
            {
                view!.SafeMemoryMappedViewHandle.ReleasePointer();
            }
            view?.Dispose();
            if (mapping is null)
            {
                stream.Dispose();
            }
            mapping?.Dispose();
            throw;
        }
    }

    public GgufTensorInfo? FindTensor(string name) =>
        _tensorsByName.TryGetValue(name, out GgufTensorInfo? tensor) ? tensor : null;

    /// <summary>The tensor named <paramref name="name"/>; a missing tensor is a <see cref="GgufFormatException"/>.</summary>
    public GgufTensorInfo GetTensor(string name) =>
        FindTensor(name) ?? throw new GgufFormatException(FilePath, -1, $"tensor '{name}' is not in the file.");

    /// <summary>
    /// Pointer to the first byte of the tensor's data as in the file: its exact copy in process memory when
    /// <see cref="ReadTensorsIntoMemory"/> made one, else the mapping; valid until <see cref="Dispose"/>.
    /// </summary>
    public byte* GetTensorPointer(GgufTensorInfo tensor)
    {
        byte* copy = FindCopy(tensor, rearranged: false);
        return copy != null ? copy : _start + tensor.AbsoluteOffset;
    }

    /// <summary>
    /// The copy of <paramref name="tensor"/> that <see cref="ReadTensorsIntoMemory"/>'s rearrangement rewrote, or
    /// null when there is none; valid until <see cref="Dispose"/>.
    /// </summary>
    public byte* GetRearrangedTensorPointer(GgufTensorInfo tensor) => FindCopy(tensor, rearranged: true);

    /// <summary>
    /// True when <see cref="ReadTensorsIntoMemory"/> holds <paramref name="tensor"/> in process memory, as an exact
    /// copy or rearranged (its mapped pages are then not what the weights are read from).
    /// </summary>
    public bool IsTensorResident(GgufTensorInfo tensor) =>
        FindCopy(tensor, rearranged: false) != null || FindCopy(tensor, rearranged: true) != null;

    /// <summary>The exact or the rearranged in-memory copy of <paramref name="tensor"/>, or null when there is none.</summary>
    private byte* FindCopy(GgufTensorInfo tensor, bool rearranged)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        RequireOwn(tensor);
        foreach (ResidentTensorBlock block in Volatile.Read(ref _residentBlocks))
        {
            byte* copy = rearranged ? block.FindRearranged(tensor.Name) : block.Find(tensor.Name);
            if (copy != null)
            {
                return copy;
            }
        }
        return null;
    }

    /// <summary>Bytes of process memory holding tensor copies made by <see cref="ReadTensorsIntoMemory"/>.</summary>
    public long ResidentTensorBytes => Volatile.Read(ref _residentBlocks).Sum(block => block.Bytes);

    /// <summary>
    /// Reads <paramref name="tensors"/> (those not copied already) into one block of process memory, backed by huge
    /// pages where the system offers them, and from then on serves their pointers from that copy. Returns true when
    /// the block was advised for huge pages. Call it before handing out pointers to these tensors; the copy lives
    /// until <see cref="Dispose"/>. <paramref name="rearrange"/>, when given, may rewrite each copy in place for its
    /// reader; a rewritten tensor is then served by <see cref="GetRearrangedTensorPointer"/> only.
    /// </summary>
    public bool ReadTensorsIntoMemory(IEnumerable<GgufTensorInfo> tensors, TensorRearrangement? rearrange = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(tensors);
        var wanted = new List<GgufTensorInfo>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (GgufTensorInfo tensor in tensors)
        {
            RequireOwn(tensor);
            if (seen.Add(tensor.Name) && !IsTensorResident(tensor))
            {
                wanted.Add(tensor);
            }
        }
        if (wanted.Count == 0)
        {
            return false;
        }
        ResidentTensorBlock added = ResidentTensorBlock.Read(FilePath, wanted, rearrange);
        lock (_tensorsByName)
        {
            Volatile.Write(ref _residentBlocks, [.. _residentBlocks, added]);
        }
        return added.HugePagesAdvised;
    }

    /// <summary>
    /// Drops this process's mapped pages of everything not read through the mapping any more: the header (parsed
    /// at open) and the tensors <see cref="ReadTensorsIntoMemory"/> copied. Call it once the weights are loaded
    /// (and paged in); returns the bytes of the ranges released (0 where the system has no such call).
    /// <para>Why: Linux may cache a file read in large folios (2 MiB ones were seen on ext4), and a fault anywhere
    /// in one maps all of it. Loading reads each small tensor (a norm) through the mapping, and the folio around it
    /// brings the copied matrices' neighbouring bytes along: on a TinyLlama-shaped Q4_0 model 13 such folios held
    /// 26 MiB of matrices resident a second time, and how many depended on how the file cache had been filled. The
    /// pages stay in the file cache; reading a copied tensor's file bytes later (hashing a rearranged one) maps
    /// them again.</para>
    /// </summary>
    public long ReleaseUnusedMappedPages() =>
        ReleaseMappedPagesExcept(Tensors.Where(tensor => !IsTensorResident(tensor)));

    /// <summary>
    /// Drops this process's mapped pages of everything but <paramref name="stillRead"/>, the tensors the caller
    /// goes on reading through the mapping (whole pages around each stay). For a caller that copied what it needs
    /// its own way (a tensor-parallel shard's slices); <see cref="ReleaseUnusedMappedPages"/> says why. Returns the
    /// bytes of the ranges released (0 where the system has no such call).
    /// </summary>
    public long ReleaseMappedPagesExcept(IEnumerable<GgufTensorInfo> stillRead)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(stillRead);
        if (!MappedPages.Supported)
        {
            return 0;
        }
        long page = Environment.SystemPageSize;
        long end = (FileSize + page - 1) / page * page;
        // Pages still read through the mapping, widened to whole pages and in file order: [first, last) pairs.
        var kept = stillRead.Where(tensor => { RequireOwn(tensor); return tensor.ByteSize > 0; })
            .Select(tensor => (First: tensor.AbsoluteOffset / page * page,
                Last: Math.Min(end, (tensor.AbsoluteOffset + tensor.ByteSize + page - 1) / page * page)))
            .OrderBy(range => range.First);
        long released = 0, from = 0;
        foreach (var (first, last) in kept)
        {
            if (first > from && MappedPages.Release(_start + from, first - from))
            {
                released += first - from;
            }
            from = Math.Max(from, last);
        }
        if (end > from && MappedPages.Release(_start + from, end - from))
        {
            released += end - from;
        }
        return released;
    }

    private void RequireOwn(GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!_tensorsByName.TryGetValue(tensor.Name, out GgufTensorInfo? own) || !ReferenceEquals(own, tensor))
        {
            throw new ArgumentException($"Tensor '{tensor.Name}' does not belong to '{FilePath}'.", nameof(tensor));
        }
    }

    /// <summary>
    /// The tensor's bytes, without copying; valid until <see cref="Dispose"/>. A span cannot exceed 2 GiB, so a
    /// larger tensor must be read through <see cref="GetTensorPointer"/>.
    /// </summary>
    public ReadOnlySpan<byte> GetTensorBytes(GgufTensorInfo tensor)
    {
        byte* pointer = GetTensorPointer(tensor);
        if (tensor.ByteSize > int.MaxValue)
        {
            throw new InvalidOperationException(
                $"Tensor '{tensor.Name}' is {tensor.ByteSize} bytes, too large for a span; use GetTensorPointer.");
        }
        return new ReadOnlySpan<byte>(pointer, (int)tensor.ByteSize);
    }

    /// <summary>
    /// The value of <paramref name="key"/> as <typeparamref name="T"/> (int, long, uint, ulong, short, ushort, byte,
    /// sbyte, float, double, bool, string). Integers convert between widths with range checks; float and double
    /// accept any numeric value. A missing key or an incompatible value is a <see cref="GgufFormatException"/>.
    /// </summary>
    public T GetValue<T>(string key)
    {
        if (!_metadataByKey.TryGetValue(key, out object? raw))
        {
            throw new GgufFormatException(FilePath, -1, $"metadata key '{key}' is missing.");
        }
        return GgufValueConversion.TryConvert(raw, out T value, out string? problem)
            ? value
            : throw new GgufFormatException(FilePath, -1, $"metadata key '{key}': {problem}");
    }

    /// <summary>False when the key is missing or its value cannot be converted to <typeparamref name="T"/>.</summary>
    public bool TryGetValue<T>(string key, out T value)
    {
        if (_metadataByKey.TryGetValue(key, out object? raw) && GgufValueConversion.TryConvert(raw, out value, out _))
        {
            return true;
        }
        value = default!;
        return false;
    }

    /// <summary>
    /// <paramref name="defaultValue"/> when the key is missing; a present but incompatible value still throws,
    /// because silently replacing a corrupt hyper-parameter would hide a broken model.
    /// </summary>
    public T GetValueOrDefault<T>(string key, T defaultValue) =>
        _metadataByKey.ContainsKey(key) ? GetValue<T>(key) : defaultValue;

    /// <summary>
    /// The array stored under <paramref name="key"/> as a fresh T[]: string[], float[], double[], bool[], or any
    /// integer element type (converted with range checks, e.g. int[] from uint32 token types).
    /// </summary>
    public T[] GetArray<T>(string key)
    {
        if (!_metadataByKey.TryGetValue(key, out object? raw))
        {
            throw new GgufFormatException(FilePath, -1, $"metadata key '{key}' is missing.");
        }
        if (raw is not GgufArray array)
        {
            throw new GgufFormatException(FilePath, -1,
                $"metadata key '{key}' holds a {raw.GetType().Name}, not an array.");
        }
        return GgufValueConversion.TryConvertArray(array, out T[] values, out string? problem)
            ? values
            : throw new GgufFormatException(FilePath, -1, $"metadata key '{key}': {problem}");
    }

    /// <summary>
    /// Unmaps the file and frees the tensor copies. Pointers and spans obtained from it must not be used afterwards.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        foreach (ResidentTensorBlock block in Interlocked.Exchange(ref _residentBlocks, []))
        {
            block.Dispose();
        }
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _mapping.Dispose();
    }

    public override string ToString() => $"GGUF v{Version} '{FilePath}' ({Tensors.Count} tensors)";
}
