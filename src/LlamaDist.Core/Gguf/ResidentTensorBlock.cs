using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace LlamaDist.Core.Gguf;

/// <summary>
/// Copies of some of a GGUF file's tensors in process memory, read with plain file reads (the mapping is not
/// touched, so the copied pages are counted once, as private memory, not also as mapped file pages).
/// <para>
/// Why copy at all: decoding streams every weight once per token, so it runs at the speed memory is read. From the
/// file mapping every 4 KiB page costs a TLB miss (page cache pages are small and scattered); one 2 MiB-aligned
/// block, advised for transparent huge pages on Linux, is read through 2 MiB pages instead. Measured on the
/// TinyLlama F16 shape with 2 threads: the matrix pass streams about 10% faster (see docs/BENCHMARKS.md).
/// </para>
/// Layout: one block; each tensor starts at a multiple of <see cref="TensorAlignment"/> bytes, in the order given.
/// A tensor may be rearranged in place after it is read (<see cref="TensorRearrangement"/>); then
/// <see cref="Find"/> no longer offers it as the file's bytes and <see cref="FindRearranged"/> does instead.
/// </summary>
internal sealed unsafe class ResidentTensorBlock : IDisposable
{
    /// <summary>Start of each tensor's copy inside the block (cache-line and vector aligned).</summary>
    public const int TensorAlignment = 64;

    // The block is aligned to a huge page so that the kernel can back all of it with 2 MiB pages.
    private const int HugePageBytes = 2 << 20;

    // Reads of at most this many bytes: spans are int-sized, and shorter reads keep the copy cache-friendly.
    private const int ReadChunkBytes = 16 << 20;

    private readonly Dictionary<string, nint> _pointers;
    private readonly Dictionary<string, nint> _rearranged;
    private byte* _block;

    private ResidentTensorBlock(byte* block, long bytes, Dictionary<string, nint> pointers,
        Dictionary<string, nint> rearranged, bool hugePagesAdvised)
    {
        _block = block;
        Bytes = bytes;
        _pointers = pointers;
        _rearranged = rearranged;
        HugePagesAdvised = hugePagesAdvised;
    }

    /// <summary>Bytes allocated for the copies (tensor bytes plus alignment padding).</summary>
    public long Bytes { get; }

    /// <summary>True when the operating system accepted the advice to back the block with huge pages.</summary>
    public bool HugePagesAdvised { get; }

    /// <summary>The exact copy of the tensor named <paramref name="name"/>, or null when this block does not hold one.</summary>
    public byte* Find(string name) => _pointers.TryGetValue(name, out nint pointer) ? (byte*)pointer : null;

    /// <summary>The rearranged copy of the tensor named <paramref name="name"/>, or null when there is none.</summary>
    public byte* FindRearranged(string name) => _rearranged.TryGetValue(name, out nint pointer) ? (byte*)pointer : null;

    /// <summary>
    /// Allocates one block for <paramref name="tensors"/> and reads their bytes from <paramref name="path"/> at
    /// their absolute offsets, offering each to <paramref name="rearrange"/> once read. IO errors and exceptions
    /// of the rearrangement propagate (the block is freed first).
    /// </summary>
    public static ResidentTensorBlock Read(string path, IReadOnlyList<GgufTensorInfo> tensors, TensorRearrangement? rearrange)
    {
        var offsets = new long[tensors.Count];
        long total = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            offsets[i] = total;
            total += (tensors[i].ByteSize + TensorAlignment - 1) / TensorAlignment * TensorAlignment;
        }
        long allocated = Math.Max(total, TensorAlignment);
        var block = (byte*)NativeMemory.AlignedAlloc((nuint)allocated, HugePageBytes);
        try
        {
            bool hugePages = HugePages.Advise(block, allocated);
            var pointers = new Dictionary<string, nint>(tensors.Count, StringComparer.Ordinal);
            var rearranged = new Dictionary<string, nint>(StringComparer.Ordinal);
            using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            for (int i = 0; i < tensors.Count; i++)
            {
                byte* destination = block + offsets[i];
                ReadExactly(handle, tensors[i], destination);
                bool changed = rearrange is not null && rearrange(tensors[i], destination);
                (changed ? rearranged : pointers)[tensors[i].Name] = (nint)destination;
            }
            return new ResidentTensorBlock(block, allocated, pointers, rearranged, hugePages);
        }
        catch
        {
            NativeMemory.AlignedFree(block);
            throw;
        }
    }

    private static void ReadExactly(SafeFileHandle handle, GgufTensorInfo tensor, byte* destination)
    {
        long done = 0;
        while (done < tensor.ByteSize)
        {
            int want = (int)Math.Min(ReadChunkBytes, tensor.ByteSize - done);
            int read = RandomAccess.Read(handle, new Span<byte>(destination + done, want), tensor.AbsoluteOffset + done);
            if (read == 0)
            {
                throw new EndOfStreamException(
                    $"The file ended inside tensor '{tensor.Name}' (wanted {tensor.ByteSize} bytes at offset {tensor.AbsoluteOffset}).");
            }
            done += read;
        }
    }

    public void Dispose()
    {
        if (_block != null)
        {
            NativeMemory.AlignedFree(_block);
            _block = null;
            _pointers.Clear();
            _rearranged.Clear();
        }
    }
}
