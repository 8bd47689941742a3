using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace LlamaDist.Gpu.Kernels;

/// <summary>
/// F16 matrix × matrix on NVIDIA tensor cores (sm_80 and later), for prompts: y[t, r] = Σ_c W[r, c] · half(x[t, c]),
/// products of halves summed in f32 (ggml's F16 × F16 product; only the order of the sums differs from the CPU
/// engine). A group of 128 threads (4 warps) computes a tile of 64 weight rows × 64 tokens; warp w takes rows
/// 32·(w mod 2) .. +32 and tokens 32·(w div 2) .. +32 as 2 × 4 mma.m16n8k16 tiles, 32 f32 accumulators per thread.
/// The columns go by in steps of 64: the group copies the step's 64 × 64 weights (the file's halves, unchanged)
/// and the 64 × 64 activations (rounded to half, two per 32-bit word) into shared memory, then each warp reads its
/// fragments from there. Rows are 32 words plus 4 of padding, so the 8 rows × 4 words a fragment read touches fall
/// in 32 different banks. The next step's global loads go out before the current step's products.
/// The weights' rows must start on 8-byte boundaries and Columns be a multiple of <see cref="KStep"/>
/// (<see cref="Supports"/>); other shapes take the SIMT kernel.
/// Grid: (ceil(Rows / 64), ceil(Tokens / 64)), group: (128, 1).
/// </summary>
internal static class TensorCoreMatMulKernels
{
    public const int TileRows = 64;
    public const int TileTokens = 64;
    public const int GroupThreads = 128;
    public const int KStep = 64;

    /// <summary>Words per staged row: the step's 32 words of half pairs and 4 of padding.</summary>
    private const int Pitch = 36;

    /// <summary>Whether the kernel can take this F16 matrix.</summary>
    public static bool Supports(int columns, long rowBytes) => columns % KStep == 0 && rowBytes % 8 == 0;

    public static void MatMulF16(ArrayView<byte> weights, ArrayView<float> x, ArrayView<float> y, MatMulShape shape)
    {
        var weightTile = SharedMemory.Allocate<uint>(TileRows * Pitch);
        var inputTile = SharedMemory.Allocate<uint>(TileTokens * Pitch);
        int thread = Group.IdxX;
        int lane = thread & 31;
        int warp = thread >> 5;
        int fragmentRow = lane >> 2;
        int fragmentWord = lane & 3;
        int firstRow = Grid.IdxX * TileRows;
        int firstToken = Grid.IdxY * TileTokens;
        int warpRow = (warp & 1) * 32;
        int warpToken = (warp >> 1) * 32;
        var pairs = weights.Cast<ulong>();
        long rowPairs = shape.RowBytes >> 3;

        // Weights: 64 rows × 16 eight-byte pairs of words per step; thread t stages pair t mod 16 of rows t / 16 + 8j
        // (16 neighbouring threads read one row's 128 contiguous bytes). Activations: 64 tokens × 32 words; thread t
        // stages word t mod 32 of tokens t / 32 + 4j. Loads for the next step are kept raw in registers and only
        // converted when staged, so they stay in flight behind the current step's products.
        int weightRow = thread >> 4;
        int weightPair = thread & 15;
        int inputToken = thread >> 5;
        int inputWord = thread & 31;
        ulong w0 = 0, w1 = 0, w2 = 0, w3 = 0, w4 = 0, w5 = 0, w6 = 0, w7 = 0;
        float x00 = 0, x01 = 0, x10 = 0, x11 = 0, x20 = 0, x21 = 0, x30 = 0, x31 = 0;
        float x40 = 0, x41 = 0, x50 = 0, x51 = 0, x60 = 0, x61 = 0, x70 = 0, x71 = 0;
        float x80 = 0, x81 = 0, x90 = 0, x91 = 0, xA0 = 0, xA1 = 0, xB0 = 0, xB1 = 0;
        float xC0 = 0, xC1 = 0, xD0 = 0, xD1 = 0, xE0 = 0, xE1 = 0, xF0 = 0, xF1 = 0;
        LoadWeights(pairs, shape, rowPairs, firstRow + weightRow, 0, weightPair, ref w0, ref w1, ref w2, ref w3, ref w4, ref w5, ref w6, ref w7);
        LoadInputs(x, shape, firstToken + inputToken, 0, inputWord, ref x00, ref x01, ref x10, ref x11, ref x20, ref x21, ref x30, ref x31);
        LoadInputs(x, shape, firstToken + inputToken + 16, 0, inputWord, ref x40, ref x41, ref x50, ref x51, ref x60, ref x61, ref x70, ref x71);
        LoadInputs(x, shape, firstToken + inputToken + 32, 0, inputWord, ref x80, ref x81, ref x90, ref x91, ref xA0, ref xA1, ref xB0, ref xB1);
        LoadInputs(x, shape, firstToken + inputToken + 48, 0, inputWord, ref xC0, ref xC1, ref xD0, ref xD1, ref xE0, ref xE1, ref xF0, ref xF1);

        // Accumulators: PTX registers tc0..tc31 that live through the whole kernel (inline PTX whose operands were C#
        // variables would pass them through local memory on every product): tile (i, j) of [row tile 0..1][token
        // tile 0..3] is tc(16i + 4j) .. +3, the m16n8 fragment (rows g, g + 8; tokens 2q, 2q + 1).
        DeclareAccumulators();
        int weightAt = weightRow * Pitch + 2 * weightPair;
        int inputAt = inputToken * Pitch + inputWord;
        for (int k0 = 0; k0 < shape.Columns; k0 += KStep)
        {
            StashWeights(weightTile, weightAt, 0, w0);
            StashWeights(weightTile, weightAt, 8, w1);
            StashWeights(weightTile, weightAt, 16, w2);
            StashWeights(weightTile, weightAt, 24, w3);
            StashWeights(weightTile, weightAt, 32, w4);
            StashWeights(weightTile, weightAt, 40, w5);
            StashWeights(weightTile, weightAt, 48, w6);
            StashWeights(weightTile, weightAt, 56, w7);
            inputTile[inputAt] = HalfPair(x00, x01);
            inputTile[inputAt + 4 * Pitch] = HalfPair(x10, x11);
            inputTile[inputAt + 8 * Pitch] = HalfPair(x20, x21);
            inputTile[inputAt + 12 * Pitch] = HalfPair(x30, x31);
            inputTile[inputAt + 16 * Pitch] = HalfPair(x40, x41);
            inputTile[inputAt + 20 * Pitch] = HalfPair(x50, x51);
            inputTile[inputAt + 24 * Pitch] = HalfPair(x60, x61);
            inputTile[inputAt + 28 * Pitch] = HalfPair(x70, x71);
            inputTile[inputAt + 32 * Pitch] = HalfPair(x80, x81);
            inputTile[inputAt + 36 * Pitch] = HalfPair(x90, x91);
            inputTile[inputAt + 40 * Pitch] = HalfPair(xA0, xA1);
            inputTile[inputAt + 44 * Pitch] = HalfPair(xB0, xB1);
            inputTile[inputAt + 48 * Pitch] = HalfPair(xC0, xC1);
            inputTile[inputAt + 52 * Pitch] = HalfPair(xD0, xD1);
            inputTile[inputAt + 56 * Pitch] = HalfPair(xE0, xE1);
            inputTile[inputAt + 60 * Pitch] = HalfPair(xF0, xF1);
            Group.Barrier();

            // The next step's loads go out now (past the last column they read 0 and are never staged).
            int next = k0 + KStep;
            LoadWeights(pairs, shape, rowPairs, firstRow + weightRow, next, weightPair, ref w0, ref w1, ref w2, ref w3, ref w4, ref w5, ref w6, ref w7);
            LoadInputs(x, shape, firstToken + inputToken, next, inputWord, ref x00, ref x01, ref x10, ref x11, ref x20, ref x21, ref x30, ref x31);
            LoadInputs(x, shape, firstToken + inputToken + 16, next, inputWord, ref x40, ref x41, ref x50, ref x51, ref x60, ref x61, ref x70, ref x71);
            LoadInputs(x, shape, firstToken + inputToken + 32, next, inputWord, ref x80, ref x81, ref x90, ref x91, ref xA0, ref xA1, ref xB0, ref xB1);
            LoadInputs(x, shape, firstToken + inputToken + 48, next, inputWord, ref xC0, ref xC1, ref xD0, ref xD1, ref xE0, ref xE1, ref xF0, ref xF1);

            // Four k16 slices of the step. Fragment words: A (row-major 16 × 16) a0 = (g, q), a1 = (g + 8, q),
            // a2 = (g, q + 4), a3 = (g + 8, q + 4); B (16 × 8, column n = token) b0 = (token g, q), b1 = (token g, q + 4).
            for (int slice = 0; slice < 32; slice += 8)
            {
                int rowAt = (warpRow + fragmentRow) * Pitch + slice + fragmentWord;
                uint a00 = weightTile[rowAt];
                uint a01 = weightTile[rowAt + 8 * Pitch];
                uint a02 = weightTile[rowAt + 4];
                uint a03 = weightTile[rowAt + 8 * Pitch + 4];
                uint a10 = weightTile[rowAt + 16 * Pitch];
                uint a11 = weightTile[rowAt + 24 * Pitch];
                uint a12 = weightTile[rowAt + 16 * Pitch + 4];
                uint a13 = weightTile[rowAt + 24 * Pitch + 4];
                int tokenAt = (warpToken + fragmentRow) * Pitch + slice + fragmentWord;
                uint b00 = inputTile[tokenAt];
                uint b01 = inputTile[tokenAt + 4];
                uint b10 = inputTile[tokenAt + 8 * Pitch];
                uint b11 = inputTile[tokenAt + 8 * Pitch + 4];
                uint b20 = inputTile[tokenAt + 16 * Pitch];
                uint b21 = inputTile[tokenAt + 16 * Pitch + 4];
                uint b30 = inputTile[tokenAt + 24 * Pitch];
                uint b31 = inputTile[tokenAt + 24 * Pitch + 4];
                if (CudaAsm.IsSupported)
                {
                    CudaAsm.Emit(Mma + "{tc0, tc1, tc2, tc3}, {%0, %1, %2, %3}, {%4, %5}, {tc0, tc1, tc2, tc3};", a00, a01, a02, a03, b00, b01);
                    CudaAsm.Emit(Mma + "{tc4, tc5, tc6, tc7}, {%0, %1, %2, %3}, {%4, %5}, {tc4, tc5, tc6, tc7};", a00, a01, a02, a03, b10, b11);
                    CudaAsm.Emit(Mma + "{tc8, tc9, tc10, tc11}, {%0, %1, %2, %3}, {%4, %5}, {tc8, tc9, tc10, tc11};", a00, a01, a02, a03, b20, b21);
                    CudaAsm.Emit(Mma + "{tc12, tc13, tc14, tc15}, {%0, %1, %2, %3}, {%4, %5}, {tc12, tc13, tc14, tc15};", a00, a01, a02, a03, b30, b31);
                    CudaAsm.Emit(Mma + "{tc16, tc17, tc18, tc19}, {%0, %1, %2, %3}, {%4, %5}, {tc16, tc17, tc18, tc19};", a10, a11, a12, a13, b00, b01);
                    CudaAsm.Emit(Mma + "{tc20, tc21, tc22, tc23}, {%0, %1, %2, %3}, {%4, %5}, {tc20, tc21, tc22, tc23};", a10, a11, a12, a13, b10, b11);
                    CudaAsm.Emit(Mma + "{tc24, tc25, tc26, tc27}, {%0, %1, %2, %3}, {%4, %5}, {tc24, tc25, tc26, tc27};", a10, a11, a12, a13, b20, b21);
                    CudaAsm.Emit(Mma + "{tc28, tc29, tc30, tc31}, {%0, %1, %2, %3}, {%4, %5}, {tc28, tc29, tc30, tc31};", a10, a11, a12, a13, b30, b31);
                }
            }
            Group.Barrier();
        }

        int row = firstRow + warpRow + fragmentRow;
        int token = firstToken + warpToken + 2 * fragmentWord;
        if (!CudaAsm.IsSupported)
        {
            return;
        }
        CudaAsm.Emit("mov.f32 %0, tc0;", out float v0);
        CudaAsm.Emit("mov.f32 %0, tc1;", out float v1);
        CudaAsm.Emit("mov.f32 %0, tc2;", out float v2);
        CudaAsm.Emit("mov.f32 %0, tc3;", out float v3);
        Store(y, shape, row, token, v0, v1, v2, v3);
        CudaAsm.Emit("mov.f32 %0, tc4;", out v0);
        CudaAsm.Emit("mov.f32 %0, tc5;", out v1);
        CudaAsm.Emit("mov.f32 %0, tc6;", out v2);
        CudaAsm.Emit("mov.f32 %0, tc7;", out v3);
        Store(y, shape, row, token + 8, v0, v1, v2, v3);
        CudaAsm.Emit("mov.f32 %0, tc8;", out v0);
        CudaAsm.Emit("mov.f32 %0, tc9;", out v1);
        CudaAsm.Emit("mov.f32 %0, tc10;", out v2);
        CudaAsm.Emit("mov.f32 %0, tc11;", out v3);
        Store(y, shape, row, token + 16, v0, v1, v2, v3);
        CudaAsm.Emit("mov.f32 %0, tc12;", out v0);
        CudaAsm.Emit("mov.f32 %0, tc13;", out v1);
        CudaAsm.Emit("mov.f32 %0, tc14;", out v2);
        CudaAsm.Emit("mov.f32 %0, tc15;", out v3);
        Store(y, shape, row, token + 24, v0, v1, v2, v3);
        CudaAsm.Emit("mov.f32 %0, tc16;", out v0);
        CudaAsm.Emit("mov.f32 %0, tc17;", out v1);
        CudaAsm.Emit("mov.f32 %0, tc18;", out v2);
        CudaAsm.Emit("mov.f32 %0, tc19;", out v3);
        Store(y, shape, row + 16, token, v0, v1, v2, v3);
        CudaAsm.Emit("mov.f32 %0, tc20;", out v0);
        CudaAsm.Emit("mov.f32 %0, tc21;", out v1);
        CudaAsm.Emit("mov.f32 %0, tc22;", out v2);
        CudaAsm.Emit("mov.f32 %0, tc23;", out v3);
        Store(y, shape, row + 16, token + 8, v0, v1, v2, v3);
        CudaAsm.Emit("mov.f32 %0, tc24;", out v0);
        CudaAsm.Emit("mov.f32 %0, tc25;", out v1);
        CudaAsm.Emit("mov.f32 %0, tc26;", out v2);
        CudaAsm.Emit("mov.f32 %0, tc27;", out v3);
        Store(y, shape, row + 16, token + 16, v0, v1, v2, v3);
        CudaAsm.Emit("mov.f32 %0, tc28;", out v0);
        CudaAsm.Emit("mov.f32 %0, tc29;", out v1);
        CudaAsm.Emit("mov.f32 %0, tc30;", out v2);
        CudaAsm.Emit("mov.f32 %0, tc31;", out v3);
        Store(y, shape, row + 16, token + 24, v0, v1, v2, v3);
    }

    /// <summary>mma.sync for one m16n8k16 tile, f16 inputs, f32 accumulators; the operands follow.</summary>
    private const string Mma = "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 ";

    /// <summary>Declares the accumulator registers tc0..tc31 and zeroes them (before any product reads them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void DeclareAccumulators()
    {
        if (!CudaAsm.IsSupported)
        {
            return;
        }
        CudaAsm.Emit(".reg .f32 tc<32>;\n\t" +
            "mov.f32 tc0, 0f00000000; mov.f32 tc1, 0f00000000; mov.f32 tc2, 0f00000000; mov.f32 tc3, 0f00000000;\n\t" +
            "mov.f32 tc4, 0f00000000; mov.f32 tc5, 0f00000000; mov.f32 tc6, 0f00000000; mov.f32 tc7, 0f00000000;\n\t" +
            "mov.f32 tc8, 0f00000000; mov.f32 tc9, 0f00000000; mov.f32 tc10, 0f00000000; mov.f32 tc11, 0f00000000;\n\t" +
            "mov.f32 tc12, 0f00000000; mov.f32 tc13, 0f00000000; mov.f32 tc14, 0f00000000; mov.f32 tc15, 0f00000000;\n\t" +
            "mov.f32 tc16, 0f00000000; mov.f32 tc17, 0f00000000; mov.f32 tc18, 0f00000000; mov.f32 tc19, 0f00000000;\n\t" +
            "mov.f32 tc20, 0f00000000; mov.f32 tc21, 0f00000000; mov.f32 tc22, 0f00000000; mov.f32 tc23, 0f00000000;\n\t" +
            "mov.f32 tc24, 0f00000000; mov.f32 tc25, 0f00000000; mov.f32 tc26, 0f00000000; mov.f32 tc27, 0f00000000;\n\t" +
            "mov.f32 tc28, 0f00000000; mov.f32 tc29, 0f00000000; mov.f32 tc30, 0f00000000; mov.f32 tc31, 0f00000000;");
    }

    /// <summary>
    /// Pair <paramref name="pair"/> (four halves) of the step at column <paramref name="k0"/> of weight rows
    /// row, row + 8, ..., row + 56; 0 outside the matrix.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadWeights(ArrayView<ulong> pairs, MatMulShape shape, long rowPairs, int row, int k0, int pair,
        ref ulong w0, ref ulong w1, ref ulong w2, ref ulong w3, ref ulong w4, ref ulong w5, ref ulong w6, ref ulong w7)
    {
        if (k0 >= shape.Columns)
        {
            return;
        }
        long at = row * rowPairs + (k0 >> 2) + pair;
        long step = 8 * rowPairs;
        w0 = row < shape.Rows ? pairs[at] : 0ul;
        w1 = row + 8 < shape.Rows ? pairs[at + step] : 0ul;
        w2 = row + 16 < shape.Rows ? pairs[at + 2 * step] : 0ul;
        w3 = row + 24 < shape.Rows ? pairs[at + 3 * step] : 0ul;
        w4 = row + 32 < shape.Rows ? pairs[at + 4 * step] : 0ul;
        w5 = row + 40 < shape.Rows ? pairs[at + 5 * step] : 0ul;
        w6 = row + 48 < shape.Rows ? pairs[at + 6 * step] : 0ul;
        w7 = row + 56 < shape.Rows ? pairs[at + 7 * step] : 0ul;
    }

    /// <summary>
    /// Activations k0 + 2·word and k0 + 2·word + 1 of tokens token, token + 4, token + 8, token + 12 (raw floats,
    /// converted when staged); 0 outside the tokens.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadInputs(ArrayView<float> x, MatMulShape shape, int token, int k0, int word,
        ref float x00, ref float x01, ref float x10, ref float x11, ref float x20, ref float x21, ref float x30, ref float x31)
    {
        if (k0 >= shape.Columns)
        {
            return;
        }
        long at = shape.XOffset + (long)token * shape.Columns + k0 + 2 * word;
        long step = 4L * shape.Columns;
        bool inside0 = token < shape.Tokens, inside1 = token + 4 < shape.Tokens, inside2 = token + 8 < shape.Tokens, inside3 = token + 12 < shape.Tokens;
        x00 = inside0 ? x[at] : 0f;
        x01 = inside0 ? x[at + 1] : 0f;
        x10 = inside1 ? x[at + step] : 0f;
        x11 = inside1 ? x[at + step + 1] : 0f;
        x20 = inside2 ? x[at + 2 * step] : 0f;
        x21 = inside2 ? x[at + 2 * step + 1] : 0f;
        x30 = inside3 ? x[at + 3 * step] : 0f;
        x31 = inside3 ? x[at + 3 * step + 1] : 0f;
    }

    /// <summary>A staged weight pair: words 2p and 2p + 1 of the row, <paramref name="rows"/> rows below the thread's first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StashWeights(ArrayView<uint> tile, int at, int rows, ulong pair)
    {
        tile[at + rows * Pitch] = (uint)pair;
        tile[at + rows * Pitch + 1] = (uint)(pair >> 32);
    }

    /// <summary>Two activations rounded to half (to nearest even, in hardware) and packed, the first in the low 16 bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint HalfPair(float low, float high) =>
        Interop.FloatAsInt((ILGPU.Half)low) | ((uint)Interop.FloatAsInt((ILGPU.Half)high) << 16);

    /// <summary>y[token, row] = c0, y[token + 1, row] = c1, y[token, row + 8] = c2, y[token + 1, row + 8] = c3, inside the shape.</summary>
    private static void Store(ArrayView<float> y, MatMulShape shape, int row, int token, float c0, float c1, float c2, float c3)
    {
        long at = shape.YOffset + row;
        long stride = shape.YStride;
        if (token < shape.Tokens)
        {
            if (row < shape.Rows)
            {
                y[at + token * stride] = c0;
            }
            if (row + 8 < shape.Rows)
            {
                y[at + 8 + token * stride] = c2;
            }
        }
        if (token + 1 < shape.Tokens)
        {
            if (row < shape.Rows)
            {
                y[at + (token + 1) * stride] = c1;
            }
            if (row + 8 < shape.Rows)
            {
                y[at + 8 + (token + 1) * stride] = c3;
            }
        }
    }
}
