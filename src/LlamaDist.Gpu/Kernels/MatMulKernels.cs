using System.Runtime.CompilerServices;
using ILGPU;

namespace LlamaDist.Gpu.Kernels;

/// <summary>
/// Matrix × matrix for prompts, in shared-memory tiles: a group of T threads (a power of two, at most 256) laid out
/// as TR × TC (TC = 2^⌊log2(T) / 2⌋) computes a tile of 4·TR weight rows × 4·TC tokens, each thread a 4 × 4 block
/// of outputs in registers (rows ty + TR·i, tokens tx + TC·j). The columns go by in steps of <see cref="KStep"/>: the
/// group dequantizes the tile's weights of the step into shared memory once ([KStep][4·TR], column-major so every
/// thread reads a row it needs without bank conflicts) and stages the tokens' activations beside them; every
/// weight is then used by all 4·TC tokens of the tile. Staged element e of a thread is thread + i·T; the first 8
/// weights and 8 activations of each thread (all of them on a GPU, T = 256: 64 rows × 64 tokens) are held in
/// registers and loaded for the next step before the current step's products, so their memory latency hides
/// behind the arithmetic instead of stalling the group at every step; smaller groups stage the rest directly.
/// Grid: (ceil(Rows / (4·TR)), ceil(Tokens / (4·TC))), group: (T, 1).
/// </summary>
internal static class MatMulKernels
{
    public const int KStep = 32;

    /// <summary>log2(<see cref="KStep"/>): staged elements split into (row or token, column) by shift and mask.</summary>
    private const int KStepShift = 5;

    /// <summary>Largest tile side and the shared row pitch (one more, so columns fall in different banks).</summary>
    private const int MaxTile = 64;
    private const int Pitch = MaxTile + 1;

    public static void MatMul<TFormat>(ArrayView<byte> weights, ArrayView<float> x, ArrayView<float> y, MatMulShape shape)
        where TFormat : struct, IDeviceFormat
    {
        var weightTile = SharedMemory.Allocate<float>(KStep * Pitch);
        var inputTile = SharedMemory.Allocate<float>(KStep * Pitch);
        int threads = Group.DimX;
        int thread = Group.IdxX;
        int columnShift = Log2(threads) / 2;
        int threadColumns = 1 << columnShift;
        int threadRows = threads / threadColumns;
        const int stepShift = KStepShift;
        const int step = KStep;
        int tileRows = 4 * threadRows;
        int tileTokens = 4 * threadColumns;
        int firstRow = Grid.IdxX * tileRows;
        int firstToken = Grid.IdxY * tileTokens;
        int ty = thread / threadColumns;
        int tx = thread - ty * threadColumns;
        int columns = shape.Columns;
        // Element e of a staged tile is (row or token e >> KStepShift, column e % KStep), so neighbouring threads
        // read neighbouring columns of the same row. A tile holds 128·TR weights and 128·TC activations, at least
        // 8·T each (TR, TC ≤ 16), so the 8 registers per thread are always inside it.
        int weightElements = tileRows << stepShift;
        int inputElements = tileTokens << stepShift;
        int registerElements = 8 * threads;

        float w0 = StageWeight<TFormat>(weights, shape, firstRow, 0, thread, stepShift);
        float w1 = StageWeight<TFormat>(weights, shape, firstRow, 0, thread + threads, stepShift);
        float w2 = StageWeight<TFormat>(weights, shape, firstRow, 0, thread + 2 * threads, stepShift);
        float w3 = StageWeight<TFormat>(weights, shape, firstRow, 0, thread + 3 * threads, stepShift);
        float w4 = StageWeight<TFormat>(weights, shape, firstRow, 0, thread + 4 * threads, stepShift);
        float w5 = StageWeight<TFormat>(weights, shape, firstRow, 0, thread + 5 * threads, stepShift);
        float w6 = StageWeight<TFormat>(weights, shape, firstRow, 0, thread + 6 * threads, stepShift);
        float w7 = StageWeight<TFormat>(weights, shape, firstRow, 0, thread + 7 * threads, stepShift);
        float i0 = StageInput(x, shape, firstToken, 0, thread, stepShift, inputElements);
        float i1 = StageInput(x, shape, firstToken, 0, thread + threads, stepShift, inputElements);
        float i2 = StageInput(x, shape, firstToken, 0, thread + 2 * threads, stepShift, inputElements);
        float i3 = StageInput(x, shape, firstToken, 0, thread + 3 * threads, stepShift, inputElements);
        float i4 = StageInput(x, shape, firstToken, 0, thread + 4 * threads, stepShift, inputElements);
        float i5 = StageInput(x, shape, firstToken, 0, thread + 5 * threads, stepShift, inputElements);
        float i6 = StageInput(x, shape, firstToken, 0, thread + 6 * threads, stepShift, inputElements);
        float i7 = StageInput(x, shape, firstToken, 0, thread + 7 * threads, stepShift, inputElements);

        float a00 = 0f, a01 = 0f, a02 = 0f, a03 = 0f;
        float a10 = 0f, a11 = 0f, a12 = 0f, a13 = 0f;
        float a20 = 0f, a21 = 0f, a22 = 0f, a23 = 0f;
        float a30 = 0f, a31 = 0f, a32 = 0f, a33 = 0f;
        for (int k0 = 0; k0 < columns; k0 += step)
        {
            Stash(weightTile, thread, stepShift, w0, weightElements);
            Stash(weightTile, thread + threads, stepShift, w1, weightElements);
            Stash(weightTile, thread + 2 * threads, stepShift, w2, weightElements);
            Stash(weightTile, thread + 3 * threads, stepShift, w3, weightElements);
            Stash(weightTile, thread + 4 * threads, stepShift, w4, weightElements);
            Stash(weightTile, thread + 5 * threads, stepShift, w5, weightElements);
            Stash(weightTile, thread + 6 * threads, stepShift, w6, weightElements);
            Stash(weightTile, thread + 7 * threads, stepShift, w7, weightElements);
            Stash(inputTile, thread, stepShift, i0, inputElements);
            Stash(inputTile, thread + threads, stepShift, i1, inputElements);
            Stash(inputTile, thread + 2 * threads, stepShift, i2, inputElements);
            Stash(inputTile, thread + 3 * threads, stepShift, i3, inputElements);
            Stash(inputTile, thread + 4 * threads, stepShift, i4, inputElements);
            Stash(inputTile, thread + 5 * threads, stepShift, i5, inputElements);
            Stash(inputTile, thread + 6 * threads, stepShift, i6, inputElements);
            Stash(inputTile, thread + 7 * threads, stepShift, i7, inputElements);
            for (int e = registerElements + thread; e < weightElements; e += threads)
            {
                Stash(weightTile, e, stepShift, StageWeight<TFormat>(weights, shape, firstRow, k0, e, stepShift), weightElements);
            }
            for (int e = registerElements + thread; e < inputElements; e += threads)
            {
                Stash(inputTile, e, stepShift, StageInput(x, shape, firstToken, k0, e, stepShift, inputElements), inputElements);
            }
            Group.Barrier();

            // The next step's loads go out now (past the last column they read 0 and are never stashed).
            int next = k0 + step;
            w0 = StageWeight<TFormat>(weights, shape, firstRow, next, thread, stepShift);
            w1 = StageWeight<TFormat>(weights, shape, firstRow, next, thread + threads, stepShift);
            w2 = StageWeight<TFormat>(weights, shape, firstRow, next, thread + 2 * threads, stepShift);
            w3 = StageWeight<TFormat>(weights, shape, firstRow, next, thread + 3 * threads, stepShift);
            w4 = StageWeight<TFormat>(weights, shape, firstRow, next, thread + 4 * threads, stepShift);
            w5 = StageWeight<TFormat>(weights, shape, firstRow, next, thread + 5 * threads, stepShift);
            w6 = StageWeight<TFormat>(weights, shape, firstRow, next, thread + 6 * threads, stepShift);
            w7 = StageWeight<TFormat>(weights, shape, firstRow, next, thread + 7 * threads, stepShift);
            i0 = StageInput(x, shape, firstToken, next, thread, stepShift, inputElements);
            i1 = StageInput(x, shape, firstToken, next, thread + threads, stepShift, inputElements);
            i2 = StageInput(x, shape, firstToken, next, thread + 2 * threads, stepShift, inputElements);
            i3 = StageInput(x, shape, firstToken, next, thread + 3 * threads, stepShift, inputElements);
            i4 = StageInput(x, shape, firstToken, next, thread + 4 * threads, stepShift, inputElements);
            i5 = StageInput(x, shape, firstToken, next, thread + 5 * threads, stepShift, inputElements);
            i6 = StageInput(x, shape, firstToken, next, thread + 6 * threads, stepShift, inputElements);
            i7 = StageInput(x, shape, firstToken, next, thread + 7 * threads, stepShift, inputElements);

            for (int k = 0; k < step; k++)
            {
                int at = k * Pitch;
                float v0 = weightTile[at + ty];
                float v1 = weightTile[at + ty + threadRows];
                float v2 = weightTile[at + ty + 2 * threadRows];
                float v3 = weightTile[at + ty + 3 * threadRows];
                float x0 = inputTile[at + tx];
                float x1 = inputTile[at + tx + threadColumns];
                float x2 = inputTile[at + tx + 2 * threadColumns];
                float x3 = inputTile[at + tx + 3 * threadColumns];
                a00 += v0 * x0; a01 += v0 * x1; a02 += v0 * x2; a03 += v0 * x3;
                a10 += v1 * x0; a11 += v1 * x1; a12 += v1 * x2; a13 += v1 * x3;
                a20 += v2 * x0; a21 += v2 * x1; a22 += v2 * x2; a23 += v2 * x3;
                a30 += v3 * x0; a31 += v3 * x1; a32 += v3 * x2; a33 += v3 * x3;
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

    /// <summary>Staged weight element e of the step at column k0 (0 outside the matrix).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float StageWeight<TFormat>(ArrayView<byte> weights, MatMulShape shape, int firstRow, int k0, int element, int stepShift)
        where TFormat : struct, IDeviceFormat
    {
        int row = firstRow + (element >> stepShift);
        int column = k0 + (element & ((1 << stepShift) - 1));
        TFormat format = default;
        return row < shape.Rows && column < shape.Columns ? format.Weight(weights, row * shape.RowBytes, column) : 0f;
    }

    /// <summary>Staged activation element e of the step at column k0 (0 outside the tokens, the columns or the tile).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float StageInput(ArrayView<float> x, MatMulShape shape, int firstToken, int k0, int element, int stepShift, int elements)
    {
        int token = firstToken + (element >> stepShift);
        int column = k0 + (element & ((1 << stepShift) - 1));
        return element < elements && token < shape.Tokens && column < shape.Columns
            ? x[shape.XOffset + (long)token * shape.Columns + column]
            : 0f;
    }

    /// <summary>tile[column, row] = value for staged element e inside the tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Stash(ArrayView<float> tile, int element, int stepShift, float value, int elements)
    {
        if (element < elements)
        {
            tile[(element & ((1 << stepShift) - 1)) * Pitch + (element >> stepShift)] = value;
        }
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
