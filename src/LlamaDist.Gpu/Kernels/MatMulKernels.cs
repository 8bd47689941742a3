using ILGPU;

namespace LlamaDist.Gpu.Kernels;

/// <summary>
/// Matrix × matrix (and × vector, Tokens = 1) in the weights' own block format: one group per (row, tile of
/// <see cref="TokenTile"/> tokens). Consecutive threads read consecutive elements of the row, so a group streams
/// the row once per tile; each dequantized weight is used for every token of the tile.
/// Grid: (Rows, ceil(Tokens / TokenTile)), group: (power of two ≤ <see cref="GroupReduce.MaxGroupSize"/>, 1).
/// </summary>
internal static class MatMulKernels
{
    public const int TokenTile = 4;

    public static void MatMul<TFormat>(ArrayView<byte> weights, ArrayView<float> x, ArrayView<float> y, MatMulShape shape)
        where TFormat : struct, IDeviceFormat
    {
        int row = Grid.IdxX;
        int firstToken = Grid.IdxY * TokenTile;
        int lane = Group.IdxX;
        int groupSize = Group.DimX;
        int count = IntrinsicMath.Min(TokenTile, shape.Tokens - firstToken);
        int columns = shape.Columns;
        long rowStart = row * shape.RowBytes;
        long x0 = shape.XOffset + (long)firstToken * columns;
        TFormat format = default;
        float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f;
        for (int column = lane; column < columns; column += groupSize)
        {
            float w = format.Weight(weights, rowStart, column);
            a0 += w * x[x0 + column];
            if (count > 1)
            {
                a1 += w * x[x0 + columns + column];
            }
            if (count > 2)
            {
                a2 += w * x[x0 + 2L * columns + column];
            }
            if (count > 3)
            {
                a3 += w * x[x0 + 3L * columns + column];
            }
        }

        var shared = SharedMemory.Allocate<float>(TokenTile * GroupReduce.MaxGroupSize);
        const int Stride = GroupReduce.MaxGroupSize;
        shared[lane] = a0;
        shared[Stride + lane] = a1;
        shared[2 * Stride + lane] = a2;
        shared[3 * Stride + lane] = a3;
        Group.Barrier();
        for (int half = groupSize / 2; half > 0; half >>= 1)
        {
            if (lane < half)
            {
                shared[lane] += shared[lane + half];
                shared[Stride + lane] += shared[Stride + lane + half];
                shared[2 * Stride + lane] += shared[2 * Stride + lane + half];
                shared[3 * Stride + lane] += shared[3 * Stride + lane + half];
            }
            Group.Barrier();
        }
        for (int k = lane; k < count; k += groupSize)
        {
            y[shape.YOffset + (long)(firstToken + k) * shape.YStride + row] = shared[k * Stride];
        }
    }

    /// <summary>
    /// rows[t, c] = W[ids[t], c]: the token embedding lookup, dequantizing on the device.
    /// Index (Tokens × Columns), one thread per element.
    /// </summary>
    public static void GetRows<TFormat>(Index1D index, ArrayView<byte> weights, long rowBytes, int columns,
        ArrayView<int> ids, ArrayView<float> rows)
        where TFormat : struct, IDeviceFormat
    {
        int token = index / columns;
        int column = index - token * columns;
        TFormat format = default;
        rows[index] = format.Weight(weights, ids[token] * rowBytes, column);
    }
}
