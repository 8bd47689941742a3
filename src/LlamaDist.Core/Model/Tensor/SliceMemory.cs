using System.Runtime.InteropServices;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Model.Tensor;

/// <summary>
/// Owns the copies of matrix slices a tensor-parallel shard computes with (native, 64-byte aligned memory, freed
/// on <see cref="Dispose"/>), and makes them: row blocks (output features: contiguous bytes) and column blocks
/// (input features: a run of whole quantization blocks out of every row). A copied Q4_0 / Q4_K slice of eight-row
/// groups is regrouped for the row-group kernels, as resident full matrices are.
/// </summary>
public sealed unsafe class SliceMemory : IDisposable
{
    private readonly List<nint> _blocks = [];
    private readonly bool _regroup;

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
        byte* data = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 1), 64);
        _blocks.Add((nint)data);
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
