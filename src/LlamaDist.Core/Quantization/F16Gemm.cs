using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// F16 weights x a batch of tokens (prompt processing) as a register-blocked GEMM, the way ggml's
/// <c>llamafile_sgemm</c> (tinyBLAS) multiplies F16: every output is one vector accumulator of
/// <see cref="Lanes"/> lanes over the whole row (lane j holds the products at columns j, j + L, j + 2L, ...),
/// summed horizontally at the end (<see cref="GgmlReductions.ReduceAdd"/> / <see cref="Int8Dot.HorizontalSum"/>,
/// tinyBLAS's hsum orders). So each result is the same float whatever the tile, chunk, thread or batch size, and
/// equals llama.cpp's batched F16 product bit for bit; it differs from the row dot a single token uses
/// (<see cref="F16Format.DotKernel"/>, four accumulators) in the last bits, as llama.cpp's own two paths do.
/// <para>Shapes. Weights: rows of F16 (<c>rowBytes</c> apart). Activations: [tokens, columns] floats already
/// rounded to half values (<see cref="F16Format.RoundActivationRow"/>). Output: [tokens, rows] floats.</para>
/// <para>Blocking (GotoBLAS order, three cache levels). .NET has no F16C, so a weight row is widened in software
/// once per batch, not once per token: a tile of rows (<see cref="PanelBudgetFloats"/> floats, or
/// <see cref="MinimumTileRows"/> rows where they are wider) is converted into a panel of <see cref="RowBlock"/>-row
/// blocks, each interleaved per vector ([columns / L][4][L] floats) so the micro-kernel reads four rows through one
/// pointer and a column chunk of a block is contiguous.
/// Tokens pass over the panel <see cref="TokenPanel"/> at a time, and the columns in chunks of
/// <see cref="ColumnChunk"/>: within a chunk a group of <see cref="TokensPerBlock512"/> tokens (AVX-512: 24
/// accumulators + 4 weight vectors + 1 activation vector of the 32 zmm registers) or
/// <see cref="TokensPerBlock256"/> (AVX2: 12 + 3 + 1 of the 16 ymm registers) keeps its activation pieces
/// (6 x 2 KB) in L1 while it meets every block of the tile. Between chunks the accumulators wait in a
/// per-thread buffer ([TokenPanel][blocks][4][L] floats), so each lane still sums its columns in order over the
/// whole row: without the chunks a 6-token group's rows (48 KB at 2048 columns, 135 KB at 5632) and the block
/// it meets both come from L2 on every step, and a 128-token batch ran no faster at 512 bits than at 256.</para>
/// </summary>
internal static unsafe class F16Gemm
{
    /// <summary>Weight rows per micro-kernel call.</summary>
    public const int RowBlock = 4;

    /// <summary>Tokens per AVX-512 micro-kernel call (4 x 6 outputs).</summary>
    public const int TokensPerBlock512 = 6;

    /// <summary>Tokens per AVX2 micro-kernel call (4 x 3 outputs).</summary>
    public const int TokensPerBlock256 = 3;

    /// <summary>
    /// Converted floats per tile of narrow rows: 256 KB, in L2 with room for the accumulators and activations passing
    /// by. On the machine measured 128 KB ran 5632-column rows 15% slower on one thread (activations streamed once
    /// per fewer rows), and 384 KB no faster than 256 KB on one thread but erratic on two.
    /// </summary>
    public const int PanelBudgetFloats = 64 * 1024;

    /// <summary>
    /// Rows a tile holds however wide they are, so each activation chunk brought into L1 serves twelve blocks. Only
    /// one column chunk's slice of the tile (48 x 2 KB) has to stay in L2 while the token groups pass over it; the
    /// whole tile is read again once per token panel. The budget alone gave 5632-column rows (ffn_down) 8-row tiles
    /// whose chunks met each activation piece twice: that shape, 2048 x 5632, two threads, ran at 213 GFLOP/s
    /// against 285 with 48-row tiles (1.1 MB) at 512 tokens, 224 against 273 at 128; 2048-column rows already had
    /// 32 and read the same with 32, 48 or 64.
    /// </summary>
    public const int MinimumTileRows = 48;

    /// <summary>Columns per chunk: a 6-token group's activation pieces (12 KB) and a block's (8 KB) fit L1.</summary>
    public const int ColumnChunk = 512;

    /// <summary>Tokens whose accumulators a tile keeps between column chunks (a multiple of both token groups).</summary>
    public const int TokenPanel = 48;

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
        int tileRows = Math.Max(MinimumTileRows, PanelBudgetFloats / columns / RowBlock * RowBlock);
        tileRows = Math.Min(tileRows, (end - start + RowBlock - 1) / RowBlock * RowBlock);
        int tileBlocks = tileRows / RowBlock;
        int accumulatorStride = tileBlocks * RowBlock * lanes; // floats between one token's and the next's
        float[] panelArray = PanelScratch.Get(checked(tileRows * columns + 16));
        float[] accumulatorArray = AccumulatorScratch.Get(checked(TokenPanel * accumulatorStride + 16));
        fixed (float* panelBase = panelArray)
        fixed (float* accumulatorBase = accumulatorArray)
        {
            float* panel = (float*)(((nuint)panelBase + 63) & ~(nuint)63);
            float* accumulators = (float*)(((nuint)accumulatorBase + 63) & ~(nuint)63);
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
                // The next tile's F16 rows (contiguous) are prefetched into L2 a few lines per chunk while this tile
                // computes, so its conversion reads them from cache instead of waiting on memory.
                byte* nextTile = weights + (long)(tileStart + tileRows) * rowBytes;
                long nextBytes = Math.Max(0, (long)Math.Min(tileRows, end - tileStart - tileRows) * rowBytes);
                int chunkCalls = ((tokens + TokenPanel - 1) / TokenPanel) * ((columns + ColumnChunk - 1) / ColumnChunk);
                long linesPerChunk = (nextBytes / 64 + chunkCalls - 1) / chunkCalls;
                long prefetched = 0;
                for (int tokenStart = 0; tokenStart < tokens; tokenStart += TokenPanel)
                {
                    int tokenCount = Math.Min(TokenPanel, tokens - tokenStart);
                    float* tokenActivations = activations + (long)tokenStart * columns;
                    for (int chunk = 0; chunk < columns; chunk += ColumnChunk)
                    {
                        int chunkColumns = Math.Min(ColumnChunk, columns - chunk);
                        for (long line = 0; line < linesPerChunk && prefetched < nextBytes; line++, prefetched += 64)
                        {
                            Sse.Prefetch1(nextTile + prefetched);
                        }
                        if (level == SimdLevel.Vector512)
                        {
                            Chunk512(panel + (long)chunk * RowBlock, blocks, columns, tokenActivations + chunk,
                                tokenCount, chunkColumns, accumulators, accumulatorStride, fresh: chunk == 0);
                        }
                        else
                        {
                            Chunk256(panel + (long)chunk * RowBlock, blocks, columns, tokenActivations + chunk,
                                tokenCount, chunkColumns, accumulators, accumulatorStride, fresh: chunk == 0);
                        }
                    }
                    Reduce(level, accumulators, accumulatorStride, tokenCount, tileCount,
                        output + (long)tokenStart * rows + tileStart, rows);
                }
            }
        }
    }

    /// <summary>
    /// Horizontal sums of the accumulators ([tokens][blocks][4][L]) of one token panel into
    /// y[t * yStride + row] for the tile's <paramref name="validRows"/> rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Reduce(SimdLevel level, float* accumulators, int accumulatorStride, int tokens, int validRows,
        float* y, int yStride)
    {
        for (int t = 0; t < tokens; t++)
        {
            float* source = accumulators + (long)t * accumulatorStride;
            float* destination = y + (long)t * yStride;
            // Rows sixteen (eight) at a time through the transposed tree, the rest one by one: the same floats.
            int r = 0;
            if (level == SimdLevel.Vector512)
            {
                for (; r + 16 <= validRows; r += 16)
                {
                    TransposedReductions.ReduceAdd16(source + r * 16, destination + r);
                }
                for (; r < validRows; r++)
                {
                    destination[r] = GgmlReductions.ReduceAdd(Vector512.Load(source + r * 16));
                }
            }
            else
            {
                for (; r + 8 <= validRows; r += 8)
                {
                    TransposedReductions.HorizontalSum8(source + r * 8, destination + r);
                }
                for (; r < validRows; r++)
                {
                    destination[r] = Int8Dot.HorizontalSum(Vector256.Load(source + r * 8));
                }
            }
        }
    }

    /// <summary>
    /// Widens <paramref name="validRows"/> F16 rows (exactly, Inf/NaN included) into one interleaved block
    /// [columns / lanes][4][lanes]; rows past the valid ones are zero (their outputs are never stored).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
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
                // Finite halves first (the 2^112 scaling is exact for normal and subnormal halves, three operations
                // fewer than the exact conversion), 32 per load; the row's largest magnitude says afterwards whether
                // it held an Inf or NaN, and only such a row is converted again exactly.
                Vector512<short> largest = Vector512<short>.Zero;
                int l = 0;
                for (; l + 32 <= columns; l += 32)
                {
                    Vector512<short> raw = Vector512.Load((short*)halves + l);
                    largest = Vector512.Max(largest, raw & Vector512.Create((short)0x7FFF));
                    F16Format.FiniteSignExtendedHalfToSingle(Vector512.WidenLower(raw))
                        .Store(destination + l * RowBlock);
                    F16Format.FiniteSignExtendedHalfToSingle(Vector512.WidenUpper(raw))
                        .Store(destination + (l + 16) * RowBlock);
                }
                if (l < columns)
                {
                    // Columns are a multiple of 16: one vector left.
                    Vector512<short> raw = Vector256.Load((short*)halves + l).ToVector512();
                    largest = Vector512.Max(largest, raw & Vector512.Create((short)0x7FFF));
                    F16Format.FiniteSignExtendedHalfToSingle(Vector512.WidenLower(raw))
                        .Store(destination + l * RowBlock);
                }
                if (Vector512.GreaterThanOrEqualAny(largest, Vector512.Create((short)0x7C00)))
                {
                    for (l = 0; l < columns; l += 16)
                    {
                        F16Format.HalfToSingle(Vector512.WidenLower(Vector256.Load(halves + l).ToVector512Unsafe()))
                            .Store(destination + l * RowBlock);
                    }
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

    /// <summary>
    /// One column chunk of a tile at AVX-512: every group of 6 tokens meets every block (4 x 6 kernel), then groups
    /// of 5 (4 x 5) where they make the panel come out even, then any tokens left two (4 x 2) and one at a time.
    /// <paramref name="a"/>: the chunk's start in block 0 (blocks are 4 x <paramref name="columns"/> floats apart);
    /// <paramref name="b"/>: the chunk's start in token 0's activations (rows <paramref name="columns"/> apart);
    /// <paramref name="fresh"/>: the panel's first chunk, whose kernels start their accumulators at zero.
    /// </summary>
    private static void Chunk512(float* a, int blocks, int columns, float* b, int tokens, int chunkColumns,
        float* accumulators, int accumulatorStride, bool fresh)
    {
        long blockFloats = (long)RowBlock * columns;
        // As tinyBLAS balances its tiles: groups of 6 and of 5 tokens where they add up to the panel exactly
        // (tokens = 6x + 5y with y = -tokens mod 6: a 32-token panel is 2 x 6 + 4 x 5), since a 4 x 5 call runs
        // nearly as fast per token as a 4 x 6 one and a 4 x 2 call about half as fast; panels too small for that
        // leave their remainder to the pair and single kernels.
        int fives = (TokensPerBlock512 - tokens % TokensPerBlock512) % TokensPerBlock512;
        if (fives * 5 > tokens)
        {
            fives = 0;
        }
        int sixesEnd = tokens - fives * 5;
        int t = 0;
        for (; t + TokensPerBlock512 <= sixesEnd; t += TokensPerBlock512)
        {
            for (int block = 0; block < blocks; block++)
            {
                Block4x6(a + block * blockFloats, b + (long)t * columns, columns, chunkColumns,
                    accumulators + (long)t * accumulatorStride + block * RowBlock * 16, accumulatorStride, fresh);
            }
        }
        for (; t + 5 <= tokens && fives > 0; t += 5, fives--)
        {
            for (int block = 0; block < blocks; block++)
            {
                Block4x5(a + block * blockFloats, b + (long)t * columns, columns, chunkColumns,
                    accumulators + (long)t * accumulatorStride + block * RowBlock * 16, accumulatorStride, fresh);
            }
        }
        // Tokens left over in pairs (each weight vector loaded once for two), then one.
        for (; t + 2 <= tokens; t += 2)
        {
            for (int block = 0; block < blocks; block++)
            {
                Block4x2(a + block * blockFloats, b + (long)t * columns, columns, chunkColumns,
                    accumulators + (long)t * accumulatorStride + block * RowBlock * 16, accumulatorStride, fresh);
            }
        }
        for (; t < tokens; t++)
        {
            for (int block = 0; block < blocks; block++)
            {
                Block4x1(a + block * blockFloats, b + (long)t * columns, chunkColumns,
                    accumulators + (long)t * accumulatorStride + block * RowBlock * 16, fresh);
            }
        }
    }

    /// <summary>One column chunk of a tile at AVX2: groups of 3 tokens (4 x 3 kernel), then single tokens.</summary>
    private static void Chunk256(float* a, int blocks, int columns, float* b, int tokens, int chunkColumns,
        float* accumulators, int accumulatorStride, bool fresh)
    {
        long blockFloats = (long)RowBlock * columns;
        int t = 0;
        for (; t + TokensPerBlock256 <= tokens; t += TokensPerBlock256)
        {
            for (int block = 0; block < blocks; block++)
            {
                Block4x3(a + block * blockFloats, b + (long)t * columns, columns, chunkColumns,
                    accumulators + (long)t * accumulatorStride + block * RowBlock * 8, accumulatorStride, fresh);
            }
        }
        for (; t < tokens; t++)
        {
            for (int block = 0; block < blocks; block++)
            {
                Block4x1Vector256(a + block * blockFloats, b + (long)t * columns, chunkColumns,
                    accumulators + (long)t * accumulatorStride + block * RowBlock * 8, fresh);
            }
        }
    }

    /// <summary>
    /// AVX-512 micro-kernel: <paramref name="chunkColumns"/> columns of four interleaved weight rows at
    /// <paramref name="a"/> x six activation rows at <paramref name="b"/> (<paramref name="columns"/> apart),
    /// continuing the accumulators at c[j * cStride + i * 16] for row i, token j.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Block4x6(float* a, float* b, int columns, int chunkColumns, float* c, int cStride, bool fresh)
    {
        float* b0 = b, b1 = b + columns, b2 = b + 2 * columns, b3 = b + 3 * columns, b4 = b + 4 * columns,
            b5 = b + 5 * columns;
        float* y0 = c, y1 = c + cStride, y2 = c + 2 * cStride, y3 = c + 3 * cStride, y4 = c + 4 * cStride,
            y5 = c + 5 * cStride;
        Vector512<float> c00 = Start512(y0, fresh), c01 = Start512(y0 + 16, fresh), c02 = Start512(y0 + 32, fresh), c03 = Start512(y0 + 48, fresh);
        Vector512<float> c10 = Start512(y1, fresh), c11 = Start512(y1 + 16, fresh), c12 = Start512(y1 + 32, fresh), c13 = Start512(y1 + 48, fresh);
        Vector512<float> c20 = Start512(y2, fresh), c21 = Start512(y2 + 16, fresh), c22 = Start512(y2 + 32, fresh), c23 = Start512(y2 + 48, fresh);
        Vector512<float> c30 = Start512(y3, fresh), c31 = Start512(y3 + 16, fresh), c32 = Start512(y3 + 32, fresh), c33 = Start512(y3 + 48, fresh);
        Vector512<float> c40 = Start512(y4, fresh), c41 = Start512(y4 + 16, fresh), c42 = Start512(y4 + 32, fresh), c43 = Start512(y4 + 48, fresh);
        Vector512<float> c50 = Start512(y5, fresh), c51 = Start512(y5 + 16, fresh), c52 = Start512(y5 + 32, fresh), c53 = Start512(y5 + 48, fresh);
        for (int l = 0; l < chunkColumns; l += 16, a += 64)
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
        c00.Store(y0); c01.Store(y0 + 16); c02.Store(y0 + 32); c03.Store(y0 + 48);
        c10.Store(y1); c11.Store(y1 + 16); c12.Store(y1 + 32); c13.Store(y1 + 48);
        c20.Store(y2); c21.Store(y2 + 16); c22.Store(y2 + 32); c23.Store(y2 + 48);
        c30.Store(y3); c31.Store(y3 + 16); c32.Store(y3 + 32); c33.Store(y3 + 48);
        c40.Store(y4); c41.Store(y4 + 16); c42.Store(y4 + 32); c43.Store(y4 + 48);
        c50.Store(y5); c51.Store(y5 + 16); c52.Store(y5 + 32); c53.Store(y5 + 48);
    }

    /// <summary>
    /// AVX-512 balancing kernel: four interleaved weight rows x five activation rows (<paramref name="columns"/>
    /// apart), accumulators at c[j * cStride + i * 16]; 20 + 4 + 1 of the 32 registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Block4x5(float* a, float* b, int columns, int chunkColumns, float* c, int cStride, bool fresh)
    {
        float* b0 = b, b1 = b + columns, b2 = b + 2 * columns, b3 = b + 3 * columns, b4 = b + 4 * columns;
        float* y0 = c, y1 = c + cStride, y2 = c + 2 * cStride, y3 = c + 3 * cStride, y4 = c + 4 * cStride;
        Vector512<float> c00 = Start512(y0, fresh), c01 = Start512(y0 + 16, fresh), c02 = Start512(y0 + 32, fresh), c03 = Start512(y0 + 48, fresh);
        Vector512<float> c10 = Start512(y1, fresh), c11 = Start512(y1 + 16, fresh), c12 = Start512(y1 + 32, fresh), c13 = Start512(y1 + 48, fresh);
        Vector512<float> c20 = Start512(y2, fresh), c21 = Start512(y2 + 16, fresh), c22 = Start512(y2 + 32, fresh), c23 = Start512(y2 + 48, fresh);
        Vector512<float> c30 = Start512(y3, fresh), c31 = Start512(y3 + 16, fresh), c32 = Start512(y3 + 32, fresh), c33 = Start512(y3 + 48, fresh);
        Vector512<float> c40 = Start512(y4, fresh), c41 = Start512(y4 + 16, fresh), c42 = Start512(y4 + 32, fresh), c43 = Start512(y4 + 48, fresh);
        for (int l = 0; l < chunkColumns; l += 16, a += 64)
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
        }
        c00.Store(y0); c01.Store(y0 + 16); c02.Store(y0 + 32); c03.Store(y0 + 48);
        c10.Store(y1); c11.Store(y1 + 16); c12.Store(y1 + 32); c13.Store(y1 + 48);
        c20.Store(y2); c21.Store(y2 + 16); c22.Store(y2 + 32); c23.Store(y2 + 48);
        c30.Store(y3); c31.Store(y3 + 16); c32.Store(y3 + 32); c33.Store(y3 + 48);
        c40.Store(y4); c41.Store(y4 + 16); c42.Store(y4 + 32); c43.Store(y4 + 48);
    }

    /// <summary>
    /// AVX-512 remainder kernel: four interleaved weight rows x two activation rows (<paramref name="columns"/>
    /// apart), accumulators at c[j * cStride + i * 16].
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Block4x2(float* a, float* b, int columns, int chunkColumns, float* c, int cStride, bool fresh)
    {
        float* b0 = b, b1 = b + columns, y0 = c, y1 = c + cStride;
        Vector512<float> c00 = Start512(y0, fresh), c01 = Start512(y0 + 16, fresh), c02 = Start512(y0 + 32, fresh), c03 = Start512(y0 + 48, fresh);
        Vector512<float> c10 = Start512(y1, fresh), c11 = Start512(y1 + 16, fresh), c12 = Start512(y1 + 32, fresh), c13 = Start512(y1 + 48, fresh);
        for (int l = 0; l < chunkColumns; l += 16, a += 64)
        {
            Vector512<float> a0 = Vector512.Load(a), a1 = Vector512.Load(a + 16);
            Vector512<float> a2 = Vector512.Load(a + 32), a3 = Vector512.Load(a + 48);
            Vector512<float> x = Vector512.Load(b0 + l);
            c00 = Vector512.FusedMultiplyAdd(a0, x, c00); c01 = Vector512.FusedMultiplyAdd(a1, x, c01);
            c02 = Vector512.FusedMultiplyAdd(a2, x, c02); c03 = Vector512.FusedMultiplyAdd(a3, x, c03);
            x = Vector512.Load(b1 + l);
            c10 = Vector512.FusedMultiplyAdd(a0, x, c10); c11 = Vector512.FusedMultiplyAdd(a1, x, c11);
            c12 = Vector512.FusedMultiplyAdd(a2, x, c12); c13 = Vector512.FusedMultiplyAdd(a3, x, c13);
        }
        c00.Store(y0); c01.Store(y0 + 16); c02.Store(y0 + 32); c03.Store(y0 + 48);
        c10.Store(y1); c11.Store(y1 + 16); c12.Store(y1 + 32); c13.Store(y1 + 48);
    }

    /// <summary>AVX-512 remainder kernel: four interleaved weight rows x one activation row, accumulators at c.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Block4x1(float* a, float* b, int chunkColumns, float* c, bool fresh)
    {
        Vector512<float> c0 = Start512(c, fresh), c1 = Start512(c + 16, fresh);
        Vector512<float> c2 = Start512(c + 32, fresh), c3 = Start512(c + 48, fresh);
        for (int l = 0; l < chunkColumns; l += 16, a += 64)
        {
            Vector512<float> x = Vector512.Load(b + l);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Load(a), x, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Load(a + 16), x, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Load(a + 32), x, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Load(a + 48), x, c3);
        }
        c0.Store(c); c1.Store(c + 16); c2.Store(c + 32); c3.Store(c + 48);
    }

    /// <summary>
    /// AVX2 micro-kernel: four interleaved weight rows at <paramref name="a"/> x three activation rows; the three
    /// activation vectors are loaded first and each weight vector meets them in turn (12 + 3 + 1 registers).
    /// Accumulators at c[j * cStride + i * 8] for row i, token j.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Block4x3(float* a, float* b, int columns, int chunkColumns, float* c, int cStride, bool fresh)
    {
        float* b0 = b, b1 = b + columns, b2 = b + 2 * columns;
        float* y0 = c, y1 = c + cStride, y2 = c + 2 * cStride;
        Vector256<float> c00 = Start256(y0, fresh), c01 = Start256(y0 + 8, fresh), c02 = Start256(y0 + 16, fresh), c03 = Start256(y0 + 24, fresh);
        Vector256<float> c10 = Start256(y1, fresh), c11 = Start256(y1 + 8, fresh), c12 = Start256(y1 + 16, fresh), c13 = Start256(y1 + 24, fresh);
        Vector256<float> c20 = Start256(y2, fresh), c21 = Start256(y2 + 8, fresh), c22 = Start256(y2 + 16, fresh), c23 = Start256(y2 + 24, fresh);
        for (int l = 0; l < chunkColumns; l += 8, a += 32)
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
        c00.Store(y0); c01.Store(y0 + 8); c02.Store(y0 + 16); c03.Store(y0 + 24);
        c10.Store(y1); c11.Store(y1 + 8); c12.Store(y1 + 16); c13.Store(y1 + 24);
        c20.Store(y2); c21.Store(y2 + 8); c22.Store(y2 + 16); c23.Store(y2 + 24);
    }

    /// <summary>AVX2 remainder kernel: four interleaved weight rows x one activation row, accumulators at c.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Block4x1Vector256(float* a, float* b, int chunkColumns, float* c, bool fresh)
    {
        Vector256<float> c0 = Start256(c, fresh), c1 = Start256(c + 8, fresh);
        Vector256<float> c2 = Start256(c + 16, fresh), c3 = Start256(c + 24, fresh);
        for (int l = 0; l < chunkColumns; l += 8, a += 32)
        {
            Vector256<float> x = Vector256.Load(b + l);
            c0 = Vector256.FusedMultiplyAdd(Vector256.Load(a), x, c0);
            c1 = Vector256.FusedMultiplyAdd(Vector256.Load(a + 8), x, c1);
            c2 = Vector256.FusedMultiplyAdd(Vector256.Load(a + 16), x, c2);
            c3 = Vector256.FusedMultiplyAdd(Vector256.Load(a + 24), x, c3);
        }
        c0.Store(c); c1.Store(c + 8); c2.Store(c + 16); c3.Store(c + 24);
    }

    // A micro-kernel's accumulator at its start: zero in a token panel's first column chunk (so the buffer needs no
    // clearing: 96 KB per panel of a 2048-column tile, about 2% of a pass in the profile), else where the previous
    // chunk left it. The branch is taken the same way for the whole call.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Start512(float* accumulator, bool fresh) =>
        fresh ? Vector512<float>.Zero : Vector512.Load(accumulator);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Start256(float* accumulator, bool fresh) =>
        fresh ? Vector256<float>.Zero : Vector256.Load(accumulator);

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

        public static float[] Get(int minimumFloats) => PinnedThreadBuffer.Get(ref t_buffer, minimumFloats);
    }

    /// <summary>One pinned float buffer per thread for a token panel's accumulators between column chunks.</summary>
    private static class AccumulatorScratch
    {
        [ThreadStatic]
        private static float[]? t_buffer;

        public static float[] Get(int minimumFloats) => PinnedThreadBuffer.Get(ref t_buffer, minimumFloats);
    }
}
