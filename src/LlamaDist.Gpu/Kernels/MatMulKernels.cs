using ILGPU;

namespace LlamaDist.Gpu.Kernels;

/// <summary>
/// Matrix × matrix for prompts, in shared-memory tiles: a group of T threads (a power of two, at most 256) laid out
/// as TR × TC (TC = 2^⌊log2(T) / 2⌋) computes a tile of 4·TR weight rows × 4·TC tokens, each thread a 4 × 4 block
/// of outputs in registers (rows ty + TR·i, tokens tx + TC·j). The columns go by in steps of <see cref="KStep"/>: the
/// group dequantizes the tile's weights of the step into shared memory once ([KStep][4·TR], column-major so every
/// thread reads a row it needs without bank conflicts) and stages the tokens' activations beside them; every
/// weight is then used by all 4·TC tokens of the tile. On a GPU (T = 256) that is 64 rows × 64 tokens.
/// Grid: (ceil(Rows / (4·TR)), ceil(Tokens / (4·TC))), group: (T, 1).
/// </summary>
internal static class MatMulKernels
{
    public const int KStep = 32;

    /// <summary>log2(<see cref="KStep"/>): staged elements split into (row, column) by shift and mask.</summary>
    private const int KStepShift = 5;

    /// <summary>Largest tile side (rows or tokens) and the shared row pitch (one more, so columns fall in different banks).</summary>
    private const int MaxTile = 64;
    private const int Pitch = MaxTile + 1;

    public static void MatMul<TFormat>(ArrayView<byte> weights, ArrayView<float> x, ArrayView<float> y, MatMulShape shape)
        where TFormat : struct, IDeviceFormat
    {
        var weightTile = SharedMemory.Allocate<float>(KStep * Pitch);
        var inputTile = SharedMemory.Allocate<float>(KStep * Pitch);
        int threads = Group.DimX;
        int thread = Group.IdxX;
        int threadColumns = 1 << (Log2(threads) / 2);
        int threadRows = threads / threadColumns;
        int tileRows = 4 * threadRows;
        int tileTokens = 4 * threadColumns;
        int firstRow = Grid.IdxX * tileRows;
        int firstToken = Grid.IdxY * tileTokens;
        int ty = thread / threadColumns;
        int tx = thread - ty * threadColumns;
        int columns = shape.Columns;
        TFormat format = default;

        float a00 = 0f, a01 = 0f, a02 = 0f, a03 = 0f;
        float a10 = 0f, a11 = 0f, a12 = 0f, a13 = 0f;
        float a20 = 0f, a21 = 0f, a22 = 0f, a23 = 0f;
        float a30 = 0f, a31 = 0f, a32 = 0f, a33 = 0f;
        for (int k0 = 0; k0 < columns; k0 += KStep)
        {
            // Stage the step: element e of a tile is (row or token e / KStep, column e % KStep), so neighbouring
            // threads read neighbouring columns of the same row; outside the matrix it is 0. A step wholly inside
            // the matrix (every step but the edges of a large product) skips the per-element bounds tests.
            bool columnsInside = k0 + KStep <= columns;
            if (columnsInside && firstRow + tileRows <= shape.Rows)
            {
                for (int e = thread; e < tileRows * KStep; e += threads)
                {
                    int r = e >> KStepShift;
                    int k = e & (KStep - 1);
                    weightTile[k * Pitch + r] = format.Weight(weights, (firstRow + r) * shape.RowBytes, k0 + k);
                }
            }
            else
            {
                for (int e = thread; e < tileRows * KStep; e += threads)
                {
                    int r = e >> KStepShift;
                    int k = e & (KStep - 1);
                    int row = firstRow + r;
                    int column = k0 + k;
                    weightTile[k * Pitch + r] = row < shape.Rows && column < columns
                        ? format.Weight(weights, row * shape.RowBytes, column)
                        : 0f;
                }
            }
            if (columnsInside && firstToken + tileTokens <= shape.Tokens)
            {
                long inputStart = shape.XOffset + (long)firstToken * columns + k0;
                for (int e = thread; e < tileTokens * KStep; e += threads)
                {
                    int t = e >> KStepShift;
                    int k = e & (KStep - 1);
                    inputTile[k * Pitch + t] = x[inputStart + (long)t * columns + k];
                }
            }
            else
            {
                for (int e = thread; e < tileTokens * KStep; e += threads)
                {
                    int t = e >> KStepShift;
                    int k = e & (KStep - 1);
                    int token = firstToken + t;
                    int column = k0 + k;
                    inputTile[k * Pitch + t] = token < shape.Tokens && column < columns
                        ? x[shape.XOffset + (long)token * columns + column]
                        : 0f;
                }
            }
            Group.Barrier();
            for (int k = 0; k < KStep; k++)
            {
                int at = k * Pitch;
                float w0 = weightTile[at + ty];
                float w1 = weightTile[at + ty + threadRows];
                float w2 = weightTile[at + ty + 2 * threadRows];
                float w3 = weightTile[at + ty + 3 * threadRows];
                float x0 = inputTile[at + tx];
                float x1 = inputTile[at + tx + threadColumns];
                float x2 = inputTile[at + tx + 2 * threadColumns];
                float x3 = inputTile[at + tx + 3 * threadColumns];
                a00 += w0 * x0; a01 += w0 * x1; a02 += w0 * x2; a03 += w0 * x3;
                a10 += w1 * x0; a11 += w1 * x1; a12 += w1 * x2; a13 += w1 * x3;
                a20 += w2 * x0; a21 += w2 * x1; a22 += w2 * x2; a23 += w2 * x3;
                a30 += w3 * x0; a31 += w3 * x1; a32 += w3 * x2; a33 += w3 * x3;
            }
            Group.Barrier();
        }

        Store(y, shape, firstRow + ty, firstToken + tx, threadColumns, a00, a01, a02, a03);
        Store(y, shape, firstRow + ty + threadRows, firstToken + tx, threadColumns, a10, a11, a12, a13);
        Store(y, shape, firstRow + ty + 2 * threadRows, firstToken + tx, threadColumns, a20, a21, a22, a23);
        Store(y, shape, firstRow + ty + 3 * threadRows, firstToken + tx, threadColumns, a30, a31, a32, a33);
    }

    /// <summary>Tile side in rows and tokens for a group of <paramref name="threads"/> (host side of the layout above).</summary>
    public static (int Rows, int Tokens) TileOf(int threads)
    {
        int threadColumns = 1 << (Log2(threads) / 2);
        return (4 * (threads / threadColumns), 4 * threadColumns);
    }

    /// <summary>y[token + j·step, row] = value j for the tokens inside the shape.</summary>
    private static void Store(ArrayView<float> y, MatMulShape shape, int row, int token, int step, float v0, float v1, float v2, float v3)
    {
        if (row >= shape.Rows)
        {
            return;
        }
        long at = shape.YOffset + row;
        if (token < shape.Tokens)
        {
            y[at + (long)token * shape.YStride] = v0;
        }
        if (token + step < shape.Tokens)
        {
            y[at + (long)(token + step) * shape.YStride] = v1;
        }
        if (token + 2 * step < shape.Tokens)
        {
            y[at + (long)(token + 2 * step) * shape.YStride] = v2;
        }
        if (token + 3 * step < shape.Tokens)
        {
            y[at + (long)(token + 3 * step) * shape.YStride] = v3;
        }
    }

    private static int Log2(int value)
    {
        int result = 0;
        while ((1 << (result + 1)) <= value)
        {
            result++;
        }
        return result;
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
