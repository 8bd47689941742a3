using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// F16 weights x a batch of tokens (prompt processing) as a register-blocked GEMM, the way ggml's
/// <c>llamafile_sgemm</c> (tinyBLAS) multiplies F16: every output is one vector accumulator of
/// <see cref="Lanes"/> lanes over the whole row (lane j holds the products at columns j, j + L, j + 2L, ...),
/// summed horizontally at the end (<see cref="GgmlReductions.ReduceAdd"/> / <see cref="Int8Dot.HorizontalSum"/>,
/// tinyBLAS's hsum orders). So each result is the same float whatever the tile, thread or batch size, and equals
/// llama.cpp's batched F16 product bit for bit; it differs from the row dot a single token uses
/// (<see cref="F16Format.DotKernel"/>, four accumulators) in the last bits, as llama.cpp's own two paths do.
/// <para>Shapes. Weights: rows of F16 (<c>rowBytes</c> apart). Activations: [tokens, columns] floats already
/// rounded to half values (<see cref="F16Format.RoundActivationRow"/>). Output: [tokens, rows] floats.</para>
/// <para>Blocking. .NET has no F16C, so a weight row is widened in software once per batch, not once per token:
/// a tile of rows (about <see cref="PanelBudgetFloats"/> floats, L2-sized) is converted into a panel of
/// <see cref="RowBlock"/>-row blocks, each block interleaved per vector ([columns / L][4][L] floats) so the
/// micro-kernel reads its four rows through one pointer. Tokens then pass over the panel in groups of
/// <see cref="TokensPerBlock512"/> (AVX-512: 24 accumulators + 4 weight vectors + 1 activation vector of the 32
/// zmm registers) or <see cref="TokensPerBlock256"/> (AVX2: 12 accumulators + 3 activation vectors + 1 weight
/// vector of the 16 ymm registers); a token group's rows (6 x 8 KB at 2048 columns) stay in L1 while it meets
/// every block of the tile, so activations come from memory once per tile, not once per block.</para>
/// </summary>
internal static unsafe class F16Gemm
{
    /// <summary>Weight rows per micro-kernel call.</summary>
    public const int RowBlock = 4;

    /// <summary>Tokens per AVX-512 micro-kernel call (4 x 6 outputs).</summary>
    public const int TokensPerBlock512 = 6;

    /// <summary>Tokens per AVX2 micro-kernel call (4 x 3 outputs).</summary>
    public const int TokensPerBlock256 = 3;

    /// <summary>Converted floats per tile: 128 KB, half of a 2-core share of L2 on the machines measured.</summary>
    public const int PanelBudgetFloats = 32 * 1024;

    /// <summary>
    /// True when the GEMM runs F16 at <paramref name="level"/> for rows of <paramref name="columns"/>: AVX-512 or
    /// AVX2 + FMA, and whole vectors per row (tinyBLAS likewise declines k not a multiple of its vector width).
    /// </summary>
    public static bool Supports(SimdLevel level, int columns) => level switch
    {
        SimdLevel.Vector512 => SimdCapabilities.IsSupported(level) && columns % 16 == 0,
        SimdLevel.Vector256 => SimdCapabilities.IsSupported(level) && columns % 8 == 0,
        _ => false,
    };

    /// <summary>Vector lanes at <paramref name="level"/> (16 or 8).</summary>
    public static int Lanes(SimdLevel level) => level == SimdLevel.Vector512 ? 16 : 8;

    /// <summary>
    /// output[t * rows + r] for weight rows [start, end) and tokens [0, tokens). <paramref name="level"/> must
    /// satisfy <see cref="Supports"/>.
    /// </summary>
    public static void Rows(SimdLevel level, byte* weights, long rowBytes, int rows, int columns, float* activations,
        int tokens, float* output, int start, int end)
    {
        int lanes = Lanes(level);
        int tileRows = Math.Max(RowBlock, PanelBudgetFloats / columns / RowBlock * RowBlock);
        tileRows = Math.Min(tileRows, (end - start + RowBlock - 1) / RowBlock * RowBlock);
        float[] panelArray = PanelScratch.Get(checked(tileRows * columns + 16));
        fixed (float* panelBase = panelArray)
        {
            float* panel = (float*)(((nuint)panelBase + 63) & ~(nuint)63);
            for (int tileStart = start; tileStart < end; tileStart += tileRows)
            {
                int tileCount = Math.Min(tileRows, end - tileStart);
                int blocks = (tileCount + RowBlock - 1) / RowBlock;
                for (int block = 0; block < blocks; block++)
                {
                    ConvertBlock(weights + (tileStart + block * RowBlock) * rowBytes, rowBytes,
                        Math.Min(RowBlock, tileCount - block * RowBlock), columns, lanes,
                        panel + (long)block * RowBlock * columns);
                }
                if (level == SimdLevel.Vector512)
                {
                    Tile512(panel, blocks, tileStart, tileCount, columns, activations, tokens, output, rows);
                }
                else
                {
                    Tile256(panel, blocks, tileStart, tileCount, columns, activations, tokens, output, rows);
                }
            }
        }
    }

    /// <summary>
    /// Widens <paramref name="validRows"/> F16 rows (exactly, Inf/NaN included) into one interleaved block
    /// [columns / lanes][4][lanes]; rows past the valid ones are zero (their outputs are never stored).
    /// </summary>
    private static void ConvertBlock(byte* weights, long rowBytes, int validRows, int columns, int lanes, float* block)
    {
        for (int i = 0; i < RowBlock; i++)
        {
            float* destination = block + i * lanes;
            if (i >= validRows)
            {
                for (int l = 0; l < columns; l += lanes)
                {
                    new Span<float>(destination + l * RowBlock, lanes).Clear();
                }
                continue;
            }
            ushort* halves = (ushort*)(weights + i * rowBytes);
            if (lanes == 16)
            {
                for (int l = 0; l < columns; l += 16)
                {
                    F16Format.HalfToSingle(Vector512.WidenLower(Vector256.Load(halves + l).ToVector512Unsafe()))
                        .Store(destination + l * RowBlock);
                }
            }
            else
            {
                for (int l = 0; l < columns; l += 8)
                {
                    F16Format.HalfToSingle(Vector256.WidenLower(Vector128.Load(halves + l).ToVector256Unsafe()))
                        .Store(destination + l * RowBlock);
                }
            }
        }
    }

    private static void Tile512(float* panel, int blocks, int tileStart, int tileCount, int columns,
        float* activations, int tokens, float* output, int rows)
    {
        int t = 0;
        for (; t + TokensPerBlock512 <= tokens; t += TokensPerBlock512)
        {
            float* b = activations + (long)t * columns;
            for (int block = 0; block < blocks; block++)
            {
                int row = tileStart + block * RowBlock;
                Block4x6(panel + (long)block * RowBlock * columns, b, columns, output + (long)t * rows + row, rows,
                    Math.Min(RowBlock, tileCount - block * RowBlock));
            }
        }
        for (; t < tokens; t++)
        {
            float* b = activations + (long)t * columns;
            for (int block = 0; block < blocks; block++)
            {
                int row = tileStart + block * RowBlock;
                Block4x1(panel + (long)block * RowBlock * columns, b, columns, output + (long)t * rows + row,
                    Math.Min(RowBlock, tileCount - block * RowBlock));
            }
        }
    }

    private static void Tile256(float* panel, int blocks, int tileStart, int tileCount, int columns,
        float* activations, int tokens, float* output, int rows)
    {
        int t = 0;
        for (; t + TokensPerBlock256 <= tokens; t += TokensPerBlock256)
        {
            float* b = activations + (long)t * columns;
            for (int block = 0; block < blocks; block++)
            {
                int row = tileStart + block * RowBlock;
                Block4x3(panel + (long)block * RowBlock * columns, b, columns, output + (long)t * rows + row, rows,
                    Math.Min(RowBlock, tileCount - block * RowBlock));
            }
        }
        for (; t < tokens; t++)
        {
            float* b = activations + (long)t * columns;
            for (int block = 0; block < blocks; block++)
            {
                int row = tileStart + block * RowBlock;
                Block4x1Vector256(panel + (long)block * RowBlock * columns, b, columns, output + (long)t * rows + row,
                    Math.Min(RowBlock, tileCount - block * RowBlock));
            }
        }
    }

    /// <summary>
    /// AVX-512 micro-kernel: four interleaved weight rows at <paramref name="a"/> x six activation rows at
    /// <paramref name="b"/> (<paramref name="columns"/> apart); y[j * yStride + i] for row i, token j.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Block4x6(float* a, float* b, int columns, float* y, int yStride, int validRows)
    {
        float* b0 = b, b1 = b + columns, b2 = b + 2 * columns, b3 = b + 3 * columns, b4 = b + 4 * columns,
            b5 = b + 5 * columns;
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c43 = default;
        Vector512<float> c50 = default, c51 = default, c52 = default, c53 = default;
        for (int l = 0; l < columns; l += 16, a += 64)
        {
            Vector512<float> a0 = Vector512.Load(a), a1 = Vector512.Load(a + 16);
            Vector512<float> a2 = Vector512.Load(a + 32), a3 = Vector512.Load(a + 48);
            Vector512<float> x = Vector512.Load(b0 + l);
            c00 = Vector512.FusedMultiplyAdd(a0, x, c00); c01 = Vector512.FusedMultiplyAdd(a1, x, c01);
            c02 = Vector512.FusedMultiplyAdd(a2, x, c02); c03 = Vector512.FusedMultiplyAdd(a3, x, c03);
            x = Vector512.Load(b1 + l);
            c10 = Vector512.FusedMultiplyAdd(a0, x, c10); c11 = Vector512.FusedMultiplyAdd(a1, x, c11);
            c12 = Vector512.FusedMultiplyAdd(a2, x, c12); c13 = Vector512.FusedMultiplyAdd(a3, x, c13);
            x = Vector512.Load(b2 + l);
            c20 = Vector512.FusedMultiplyAdd(a0, x, c20); c21 = Vector512.FusedMultiplyAdd(a1, x, c21);
            c22 = Vector512.FusedMultiplyAdd(a2, x, c22); c23 = Vector512.FusedMultiplyAdd(a3, x, c23);
            x = Vector512.Load(b3 + l);
            c30 = Vector512.FusedMultiplyAdd(a0, x, c30); c31 = Vector512.FusedMultiplyAdd(a1, x, c31);
            c32 = Vector512.FusedMultiplyAdd(a2, x, c32); c33 = Vector512.FusedMultiplyAdd(a3, x, c33);
            x = Vector512.Load(b4 + l);
            c40 = Vector512.FusedMultiplyAdd(a0, x, c40); c41 = Vector512.FusedMultiplyAdd(a1, x, c41);
            c42 = Vector512.FusedMultiplyAdd(a2, x, c42); c43 = Vector512.FusedMultiplyAdd(a3, x, c43);
            x = Vector512.Load(b5 + l);
            c50 = Vector512.FusedMultiplyAdd(a0, x, c50); c51 = Vector512.FusedMultiplyAdd(a1, x, c51);
            c52 = Vector512.FusedMultiplyAdd(a2, x, c52); c53 = Vector512.FusedMultiplyAdd(a3, x, c53);
        }
        Store4(y, validRows, c00, c01, c02, c03);
        Store4(y + yStride, validRows, c10, c11, c12, c13);
        Store4(y + 2 * yStride, validRows, c20, c21, c22, c23);
        Store4(y + 3 * yStride, validRows, c30, c31, c32, c33);
        Store4(y + 4 * yStride, validRows, c40, c41, c42, c43);
        Store4(y + 5 * yStride, validRows, c50, c51, c52, c53);
    }

    /// <summary>AVX-512 remainder kernel: four interleaved weight rows x one activation row.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Block4x1(float* a, float* b, int columns, float* y, int validRows)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        for (int l = 0; l < columns; l += 16, a += 64)
        {
            Vector512<float> x = Vector512.Load(b + l);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Load(a), x, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Load(a + 16), x, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Load(a + 32), x, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Load(a + 48), x, c3);
        }
        Store4(y, validRows, c0, c1, c2, c3);
    }

    /// <summary>
    /// AVX2 micro-kernel: four interleaved weight rows at <paramref name="a"/> x three activation rows; the three
    /// activation vectors are loaded first and each weight vector meets them in turn (12 + 3 + 1 registers).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Block4x3(float* a, float* b, int columns, float* y, int yStride, int validRows)
    {
        float* b0 = b, b1 = b + columns, b2 = b + 2 * columns;
        Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector256<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector256<float> c20 = default, c21 = default, c22 = default, c23 = default;
        for (int l = 0; l < columns; l += 8, a += 32)
        {
            Vector256<float> x0 = Vector256.Load(b0 + l), x1 = Vector256.Load(b1 + l), x2 = Vector256.Load(b2 + l);
            Vector256<float> w = Vector256.Load(a);
            c00 = Vector256.FusedMultiplyAdd(w, x0, c00); c10 = Vector256.FusedMultiplyAdd(w, x1, c10);
            c20 = Vector256.FusedMultiplyAdd(w, x2, c20);
            w = Vector256.Load(a + 8);
            c01 = Vector256.FusedMultiplyAdd(w, x0, c01); c11 = Vector256.FusedMultiplyAdd(w, x1, c11);
            c21 = Vector256.FusedMultiplyAdd(w, x2, c21);
            w = Vector256.Load(a + 16);
            c02 = Vector256.FusedMultiplyAdd(w, x0, c02); c12 = Vector256.FusedMultiplyAdd(w, x1, c12);
            c22 = Vector256.FusedMultiplyAdd(w, x2, c22);
            w = Vector256.Load(a + 24);
            c03 = Vector256.FusedMultiplyAdd(w, x0, c03); c13 = Vector256.FusedMultiplyAdd(w, x1, c13);
            c23 = Vector256.FusedMultiplyAdd(w, x2, c23);
        }
        Store4(y, validRows, c00, c01, c02, c03);
        Store4(y + yStride, validRows, c10, c11, c12, c13);
        Store4(y + 2 * yStride, validRows, c20, c21, c22, c23);
    }

    /// <summary>AVX2 remainder kernel: four interleaved weight rows x one activation row.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Block4x1Vector256(float* a, float* b, int columns, float* y, int validRows)
    {
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        for (int l = 0; l < columns; l += 8, a += 32)
        {
            Vector256<float> x = Vector256.Load(b + l);
            c0 = Vector256.FusedMultiplyAdd(Vector256.Load(a), x, c0);
            c1 = Vector256.FusedMultiplyAdd(Vector256.Load(a + 8), x, c1);
            c2 = Vector256.FusedMultiplyAdd(Vector256.Load(a + 16), x, c2);
            c3 = Vector256.FusedMultiplyAdd(Vector256.Load(a + 24), x, c3);
        }
        Store4(y, validRows, c0, c1, c2, c3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store4(float* y, int validRows, Vector512<float> c0, Vector512<float> c1,
        Vector512<float> c2, Vector512<float> c3)
    {
        y[0] = GgmlReductions.ReduceAdd(c0);
        if (validRows > 1) y[1] = GgmlReductions.ReduceAdd(c1);
        if (validRows > 2) y[2] = GgmlReductions.ReduceAdd(c2);
        if (validRows > 3) y[3] = GgmlReductions.ReduceAdd(c3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store4(float* y, int validRows, Vector256<float> c0, Vector256<float> c1,
        Vector256<float> c2, Vector256<float> c3)
    {
        y[0] = Int8Dot.HorizontalSum(c0);
        if (validRows > 1) y[1] = Int8Dot.HorizontalSum(c1);
        if (validRows > 2) y[2] = Int8Dot.HorizontalSum(c2);
        if (validRows > 3) y[3] = Int8Dot.HorizontalSum(c3);
    }

    /// <summary>
    /// Reference for the GEMM's numerics at <paramref name="level"/>: one accumulator of
    /// <see cref="Lanes"/> lanes per output, FMA per lane in column order, the same horizontal sum. Scalar code,
    /// used by tests to check every tile and remainder path bit for bit.
    /// </summary>
    internal static float ReferenceDot(SimdLevel level, byte* weights, float* activations, int columns)
    {
        int lanes = Lanes(level);
        Span<float> accumulator = stackalloc float[16];
        accumulator.Clear();
        ushort* halves = (ushort*)weights;
        for (int l = 0; l < columns; l++)
        {
            accumulator[l % lanes] = MathF.FusedMultiplyAdd(F16Format.ToSingle(halves[l]), activations[l],
                accumulator[l % lanes]);
        }
        if (lanes == 16)
        {
            return GgmlReductions.ReduceAdd(Vector512.Create((ReadOnlySpan<float>)accumulator));
        }
        return Int8Dot.HorizontalSum(Vector256.Create((ReadOnlySpan<float>)accumulator[..8]));
    }

    /// <summary>
    /// One pinned float buffer per thread for the converted panel (the calling thread's
    /// <see cref="ActivationScratch"/> already holds the activations). Grows to the largest panel and stays.
    /// </summary>
    private static class PanelScratch
    {
        [ThreadStatic]
        private static float[]? t_buffer;

        public static float[] Get(int minimumFloats)
        {
            float[]? buffer = t_buffer;
            if (buffer is null || buffer.Length < minimumFloats)
            {
                buffer = GC.AllocateUninitializedArray<float>(minimumFloats, pinned: true);
                t_buffer = buffer;
            }
            return buffer;
        }
    }
}
