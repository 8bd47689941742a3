using System.Runtime.InteropServices;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Model.Tensor;

/// <summary>
/// Owns the copies of matrix slices a tensor-parallel shard computes with (native, 64-byte aligned memory, freed
/// on <see cref="Dispose"/>), and makes them: row blocks (output features: contiguous bytes) and column blocks
/// (input features: a run of whole quantization blocks out of every row). A copied Q4_0 / Q4_K slice of eight-row
/// groups is regrouped for the row-group kernels, as resident full matrices are.
/// <para>Slices are cut one after another from chunks of 64 MiB (or one slice's size) aligned to and advised for
/// transparent huge pages, like a resident model's block (<see cref="ResidentTensorBlock"/>): decoding streams the
/// slices, and in 4 KiB pages it paid a TLB miss and a stopped prefetch every 4 KiB (two 1-thread shards of
/// TinyLlama Q8_0 decoded 28.7 ms/token from 4 KiB pages against 26.8 from huge ones, alternating). A chunk's
/// untouched tail never becomes resident.</para>
/// </summary>
public sealed unsafe class SliceMemory : IDisposable
{
    /// <summary>Virtual size of a chunk slices are cut from; only the huge pages a slice touches become resident.</summary>
    private const long ChunkBytes = 64L << 20;

    private const long HugePageBytes = 2L << 20;

    private const long SliceAlignment = 64;

    private readonly List<nint> _blocks = [];
    private readonly bool _regroup;
    private byte* _chunk;
    private long _chunkBytes;
    private long _chunkUsed;

    /// <param name="regroupForKernels">Regroup Q4_0 / Q4_K copies for the row-group kernels (false keeps ggml rows,
    /// e.g. to compare bytes).</param>
    public SliceMemory(bool regroupForKernels = true)
    {
        _regroup = regroupForKernels;
    }

    /// <summary>Bytes held by every slice made so far.</summary>
    public long Bytes { get; private set; }

    /// <summary>
    /// Rows given by <paramref name="rowRuns"/> (start, count) of <paramref name="source"/> (in
    /// <see cref="WeightLayout.Rows"/>), one after the other, as a new matrix.
    /// </summary>
    public WeightMatrix Rows(in WeightMatrix source, params ReadOnlySpan<(int Start, int Count)> rowRuns)
    {
        RequireRows(source);
        int rows = 0;
        foreach ((int start, int count) in rowRuns)
        {
            if (start < 0 || count <= 0 || start > source.Rows - count)
            {
                throw new ArgumentOutOfRangeException(nameof(rowRuns), $"Rows [{start}, {start + count}) are outside [0, {source.Rows}).");
            }
            rows += count;
        }
        byte* data = Allocate(rows * source.RowBytes);
        byte* target = data;
        foreach ((int start, int count) in rowRuns)
        {
            long bytes = count * source.RowBytes;
            Buffer.MemoryCopy(source.Data + start * source.RowBytes, target, bytes, bytes);
            target += bytes;
        }
        return Finish(data, source.Type, rows, source.Columns);
    }

    /// <summary>Columns [start, start + count) of every row of <paramref name="source"/>, as a new matrix.</summary>
    public WeightMatrix Columns(in WeightMatrix source, int start, int count)
    {
        RequireRows(source);
        int blockSize = GgmlTypeInfo.BlockSize(source.Type);
        if (start < 0 || count <= 0 || start > source.Columns - count || start % blockSize != 0 || count % blockSize != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(start),
                $"Columns [{start}, {start + count}) of {source.Columns} must be whole {GgmlTypeInfo.Name(source.Type)} blocks of {blockSize}.");
        }
        long offset = GgmlTypeInfo.RowBytes(source.Type, start);
        long rowBytes = GgmlTypeInfo.RowBytes(source.Type, count);
        byte* data = Allocate(source.Rows * rowBytes);
        for (long row = 0; row < source.Rows; row++)
        {
            Buffer.MemoryCopy(source.Data + row * source.RowBytes + offset, data + row * rowBytes, rowBytes, rowBytes);
        }
        return Finish(data, source.Type, source.Rows, count);
    }

    public void Dispose()
    {
        foreach (nint block in _blocks)
        {
            NativeMemory.AlignedFree((void*)block);
        }
        _blocks.Clear();
        _chunk = null;
        Bytes = 0;
    }

    private static void RequireRows(in WeightMatrix source)
    {
        if (source.Layout != WeightLayout.Rows)
        {
            throw new ArgumentException($"Only a matrix of ggml rows can be sliced, not one regrouped as {source.Layout}.", nameof(source));
        }
    }

    private byte* Allocate(long bytes)
    {
        long rounded = (Math.Max(bytes, 1) + SliceAlignment - 1) / SliceAlignment * SliceAlignment;
        if (_chunk is null || _chunkUsed + rounded > _chunkBytes)
        {
            long size = Math.Max(ChunkBytes, (rounded + HugePageBytes - 1) / HugePageBytes * HugePageBytes);
            _chunk = (byte*)NativeMemory.AlignedAlloc((nuint)size, (nuint)HugePageBytes);
            _blocks.Add((nint)_chunk);
            HugePages.Advise(_chunk, size);
            _chunkBytes = size;
            _chunkUsed = 0;
        }
        byte* data = _chunk + _chunkUsed;
        _chunkUsed += rounded;
        Bytes += bytes;
        return data;
    }

    /// <summary>The copy as a matrix, regrouped where the kernels read its type faster so.</summary>
    private WeightMatrix Finish(byte* data, GgmlType type, int rows, int columns)
    {
        WeightLayout layout = RowGroupLayouts.LayoutOf(type);
        if (_regroup && layout != WeightLayout.Rows && RowGroupLayouts.IsSupported(layout) && rows % RowGroupVectors.RowGroup == 0)
        {
            int blocks = columns / GgmlTypeInfo.BlockSize(type);
            long rowBytes = GgmlTypeInfo.RowBytes(type, columns);
            byte* scratch = (byte*)NativeMemory.AlignedAlloc((nuint)(RowGroupVectors.RowGroup * rowBytes), 64);
            try
            {
                if (RowGroupLayouts.TryRegroupInPlace(type, data, rows, blocks, scratch))
                {
                    return new WeightMatrix(data, type, rows, columns, layout);
                }
            }
            finally
            {
                NativeMemory.AlignedFree(scratch);
            }
        }
        return new WeightMatrix(data, type, rows, columns);
    }
}
