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
    public const int TokenTile = 8;

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
        // Eight accumulators in registers: each weight read serves up to eight token rows (prompt batches);
        // a single token (decode) skips the other seven.
        float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
        for (int column = lane; column < columns; column += groupSize)
        {
            float w = format.Weight(weights, rowStart, column);
            long at = x0 + column;
            a0 += w * x[at];
            if (count > 1)
            {
                a1 += w * x[at + columns];
                if (count > 2)
                {
                    a2 += w * x[at + 2L * columns];
                    if (count > 3)
                    {
                        a3 += w * x[at + 3L * columns];
                        if (count > 4)
                        {
                            a4 += w * x[at + 4L * columns];
                            if (count > 5)
                            {
                                a5 += w * x[at + 5L * columns];
                                if (count > 6)
                                {
                                    a6 += w * x[at + 6L * columns];
                                    if (count > 7)
                                    {
                                        a7 += w * x[at + 7L * columns];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        var shared = SharedMemory.Allocate<float>(TokenTile * GroupReduce.MaxGroupSize);
        const int Stride = GroupReduce.MaxGroupSize;
        shared[lane] = a0;
        shared[Stride + lane] = a1;
        shared[2 * Stride + lane] = a2;
        shared[3 * Stride + lane] = a3;
        shared[4 * Stride + lane] = a4;
        shared[5 * Stride + lane] = a5;
        shared[6 * Stride + lane] = a6;
        shared[7 * Stride + lane] = a7;
        Group.Barrier();
        for (int half = groupSize / 2; half > 0; half >>= 1)
        {
            if (lane < half)
            {
                for (int k = 0; k < count; k++)
                {
                    shared[k * Stride + lane] += shared[k * Stride + lane + half];
                }
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
