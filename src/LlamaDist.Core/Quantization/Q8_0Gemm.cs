using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Q8_0 weights x Q8_0 activations with AVX-VNNI (batches, and single tokens on regrouped matrices): eight weight
/// rows side by side, one row per 32-bit lane, so one <c>vpdpbusd</c> adds four products to each of eight rows and a
/// block's 32 products per row are summed exactly in integers; one float multiply-add per block then serves the
/// eight rows.
/// <para>
/// Why: the row dot (<see cref="Q8_0Format.DotVector256"/>, ggml's vec_dot) spends a sign fix-up, a vpdpbusd, a
/// conversion, a multiply and a multiply-add on every (row, token, block). Here a (row group, token, block) takes
/// eight vpdpbusd (each with its activation quad broadcast from memory) and the conversion, multiply and
/// multiply-add once for all eight rows: about a third of the vector work. The weights are made unsigned when they
/// are packed (w + 128; at load, or once per batch for file layout), and the surplus 128 * sum(q) per block comes from the activation side
/// (the extended row's correction 8 * sum(q), times 16), so every block sum is exact. The value of each (row,
/// token) is <see cref="Reference"/>: exact block sums, <c>acc = fma(d_w * d_x, sum, acc)</c> block by block;
/// it differs from the row dot by float rounding only, as llama.cpp's repacked Q8_0 paths do.
/// </para>
/// <para>
/// Blocking, as <see cref="F16Gemm"/>: a panel of row groups (about <see cref="PanelBudgetBytes"/>, in L2) is
/// packed once per batch, tokens pass over it <see cref="TokenPanel"/> at a time and the blocks in chunks of
/// <see cref="ChunkBlocks"/>, so four tokens' activation pieces (4 x 1.1 KB) and a group's chunk (4.4 KB) stay in
/// L1 while the tokens meet every group of the panel. The eight float accumulators of a (group, token) wait in a
/// per-thread buffer between chunks; each lane still adds its blocks in order, so chunking changes no bits.
/// </para>
/// <para>
/// Matrices held in process memory are regrouped into this layout once at load
/// (<see cref="WeightLayout.Q8_0RowGroups"/>): then batches read the groups directly and a single token runs
/// <see cref="Dot8x1"/> over them, so decoding and batches give the same bits (as regrouped Q4_0 does). Matrices in
/// file layout pack each panel per batch; their single tokens keep the row dot.
/// </para>
/// Group of eight rows, per block (<see cref="PackedBlockBytes"/> = 272 bytes, the bytes of the eight Q8_0 blocks
/// it replaces):
/// <code>
/// quants [8 quads][8 rows][4]: quad v holds elements 4v..4v+3 of each row, as unsigned bytes w + 128
/// scales [8] fp16:            row r's scale as in the file (finite: groups with Inf / NaN scales are not packed)
/// </code>
/// </summary>
internal static unsafe class Q8_0Gemm
{
    /// <summary>Rows per group (one per 32-bit lane of a 256-bit vector).</summary>
    public const int RowGroup = 8;

    /// <summary>Bytes of one block of a packed group: 256 quant bytes and 8 fp16 scales.</summary>
    public const int PackedBlockBytes = 256 + RowGroup * sizeof(ushort);

    /// <summary>Packed bytes per panel: 256 KB, inside one core's L2 beside the activations passing by.</summary>
    public const int PanelBudgetBytes = 256 * 1024;

    /// <summary>Blocks per chunk (512 columns).</summary>
    public const int ChunkBlocks = 16;

    /// <summary>Tokens whose accumulators a panel keeps between chunks (a multiple of 4).</summary>
    public const int TokenPanel = 64;

    /// <summary>Batches up to this many tokens stream each group whole instead of walking panels (<see cref="StreamedGroups"/>).</summary>
    public const int StreamedBatchTokens = 16;

    /// <summary>Whether this CPU runs the kernels: AVX2, FMA and AVX-VNNI (256-bit <c>vpdpbusd</c>).</summary>
    public static bool IsSupported => Avx2.IsSupported && Fma.IsSupported && AvxVnni.IsSupported;

    /// <summary>
    /// output[t * rows + r] for Q8_0 weight rows [start, end) in file layout (<paramref name="rowBytes"/> apart) and
    /// <paramref name="tokens"/> extended activation rows (<see cref="Q8TileKernels.QuantizeRow"/> with the
    /// correction, <paramref name="activationRowBytes"/> apart): each panel of groups is packed once per call. A
    /// group with an Inf / NaN scale is not packed; its rows take the row dot, which carries them.
    /// </summary>
    public static void Rows(byte* weights, long rowBytes, int rows, int blocks, byte* activations,
        int activationRowBytes, int tokens, float* output, int start, int end)
    {
        long groupBytes = (long)blocks * PackedBlockBytes;
        int panelGroups = PanelGroups(groupBytes, (end - start + RowGroup - 1) / RowGroup);
        byte[] panelArray = Scratch.Bytes(checked((int)(panelGroups * groupBytes) + 64));
        fixed (byte* panelBase = panelArray)
        {
            byte* panel = (byte*)(((nuint)panelBase + 63) & ~(nuint)63);
            for (int panelStart = start; panelStart < end; panelStart += panelGroups * RowGroup)
            {
                int panelRows = Math.Min(panelGroups * RowGroup, end - panelStart);
                int groups = (panelRows + RowGroup - 1) / RowGroup;
                ulong unpacked = 0; // bit g: group g has a non-finite scale (panels hold at most 64 groups)
                for (int g = 0; g < groups; g++)
                {
                    byte* groupRows = weights + (panelStart + g * RowGroup) * rowBytes;
                    int valid = Math.Min(RowGroup, panelRows - g * RowGroup);
                    bool finite = AllFinite(groupRows, valid * rowBytes);
                    Pack(groupRows, rowBytes, finite ? valid : 0, panel + g * groupBytes);
                    unpacked |= finite ? 0 : 1ul << g;
                }
                Panel(panel, groups, groupBytes, blocks, activations, activationRowBytes, tokens,
                    output + panelStart, rows, panelRows);
                for (int g = 0; unpacked != 0; g++, unpacked >>= 1)
                {
                    if ((unpacked & 1) == 0)
                    {
                        continue;
                    }
                    int first = panelStart + g * RowGroup, last = Math.Min(end, first + RowGroup);
                    for (int r = first; r < last; r++)
                    {
                        for (int t = 0; t < tokens; t++)
                        {
                            output[(long)t * rows + r] = Q8TileKernels.Q8_0Dot1(weights + r * rowBytes,
                                activations + (long)t * activationRowBytes, blocks);
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Rows [start, end) (multiples of 8) of a regrouped matrix (<see cref="WeightLayout.Q8_0RowGroups"/>) against
    /// <paramref name="tokens"/> extended activation rows: one token through <see cref="Dot8x1Pair"/> /
    /// <see cref="Dot8x1"/> (two groups far apart, see <see cref="DecodeRowPairs"/>), a batch in panels of groups
    /// read in place.
    /// </summary>
    public static void GroupedRows(byte* matrix, int rows, int blocks, byte* activations, int activationRowBytes,
        int tokens, float* output, int start, int end)
    {
        long groupBytes = (long)blocks * PackedBlockBytes;
        if (tokens == 1)
        {
            DecodeRowPairs.RunGroups(&Dot8x1Pair, &Dot8x1, blocks, matrix, groupBytes, activations, output,
                start / RowGroup, end / RowGroup);
            return;
        }
        if (tokens <= StreamedBatchTokens)
        {
            StreamedGroups(matrix, rows, blocks, groupBytes, activations, activationRowBytes, tokens, output, start, end);
            return;
        }
        int panelGroups = PanelGroups(groupBytes, (end - start) / RowGroup);
        for (int panelStart = start; panelStart < end; panelStart += panelGroups * RowGroup)
        {
            int panelRows = Math.Min(panelGroups * RowGroup, end - panelStart);
            Panel(matrix + panelStart / RowGroup * groupBytes, panelRows / RowGroup, groupBytes, blocks, activations,
                activationRowBytes, tokens, output + panelStart, rows, panelRows);
        }
    }

    /// <summary>
    /// A small batch (the steps of a few sequences decoded together) against a regrouped matrix: group by group,
    /// each group's blocks read once from memory in order (then from L1 / L2 for the next four tokens), the tokens'
    /// sums written straight to y. The panels' chunk-by-chunk walk would hop between 64 groups 4 KB at a time, which
    /// leaves a batch too small to be compute-bound waiting on memory. Same sums in the same order, so the same bits.
    /// </summary>
    private static void StreamedGroups(byte* matrix, int rows, int blocks, long groupBytes, byte* activations,
        int activationRowBytes, int tokens, float* output, int start, int end)
    {
        for (int row = start; row < end; row += RowGroup)
        {
            byte* group = matrix + row / RowGroup * groupBytes;
            int t = 0;
            for (; t + 4 <= tokens; t += 4)
            {
                float* c = output + (long)t * rows + row;
                for (int j = 0; j < 4; j++)
                {
                    Vector256<float>.Zero.Store(c + (long)j * rows);
                }
                // The first four tokens read the group from memory: prefetched ahead like a decoding kernel.
                Dot8x4(group, blocks, activations + (long)t * activationRowBytes, activationRowBytes, c, rows,
                    fromMemory: t == 0);
            }
            for (; t < tokens; t++)
            {
                float* c = output + (long)t * rows + row;
                Vector256<float>.Zero.Store(c);
                Dot8x1Continue(group, blocks, activations + (long)t * activationRowBytes, c);
            }
        }
    }

    /// <summary>Groups per panel: as many as <see cref="PanelBudgetBytes"/> holds, at least 1, at most 64 and the range's.</summary>
    private static int PanelGroups(long groupBytes, int rangeGroups) =>
        (int)Math.Clamp(PanelBudgetBytes / groupBytes, 1, Math.Max(1, Math.Min(64, rangeGroups)));

    /// <summary>
    /// One panel of <paramref name="groups"/> groups against every token: tokens in panels of
    /// <see cref="TokenPanel"/>, blocks in chunks of <see cref="ChunkBlocks"/>, then y[t * yStride + r] for the
    /// panel's first <paramref name="validRows"/> rows.
    /// </summary>
    private static void Panel(byte* panel, int groups, long groupBytes, int blocks, byte* activations,
        int activationRowBytes, int tokens, float* y, int yStride, int validRows)
    {
        float[] accumulatorArray = Scratch.Floats(TokenPanel * groups * RowGroup + 16);
        fixed (float* accumulatorBase = accumulatorArray)
        {
            float* accumulators = (float*)(((nuint)accumulatorBase + 63) & ~(nuint)63);
            int tokenStride = groups * RowGroup; // floats between one token's accumulators and the next's
            for (int tokenStart = 0; tokenStart < tokens; tokenStart += TokenPanel)
            {
                int tokenCount = Math.Min(TokenPanel, tokens - tokenStart);
                new Span<float>(accumulators, tokenCount * tokenStride).Clear();
                byte* tokenActivations = activations + (long)tokenStart * activationRowBytes;
                for (int chunk = 0; chunk < blocks; chunk += ChunkBlocks)
                {
                    Chunk(panel + (long)chunk * PackedBlockBytes, groups, groupBytes,
                        tokenActivations + (long)chunk * Q8TileKernels.ExtBlockBytes, activationRowBytes, tokenCount,
                        Math.Min(ChunkBlocks, blocks - chunk), accumulators, tokenStride);
                }
                for (int t = 0; t < tokenCount; t++)
                {
                    new ReadOnlySpan<float>(accumulators + t * tokenStride, validRows)
                        .CopyTo(new Span<float>(y + (long)(tokenStart + t) * yStride, validRows));
                }
            }
        }
    }

    private static bool AllFinite(byte* rows, long bytes)
    {
        for (long offset = 0; offset < bytes; offset += Q8_0Format.BlockBytes)
        {
            if (!RowGroupVectors.IsFiniteHalf(rows + offset))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Rewrites a Q8_0 matrix of <paramref name="rows"/> rows (a multiple of 8) in place into groups, using
    /// <paramref name="scratch"/> (eight rows' bytes). Returns false, with the matrix unchanged, when a scale is Inf
    /// or NaN.
    /// </summary>
    public static bool TryRegroupInPlace(byte* matrix, int rows, int blocks, byte* scratch) =>
        RowGroupVectors.TryRegroupInPlace(matrix, rows, (long)blocks * Q8_0Format.BlockBytes, Q8_0Format.BlockBytes,
            &RowGroupVectors.IsFiniteHalf, &Pack, scratch);

    /// <summary>
    /// Writes <paramref name="rowCount"/> (0..8) Q8_0 rows (<paramref name="rowBytes"/> apart, a whole number of
    /// blocks) as one group at <paramref name="destination"/>; missing rows get zero scales (their lanes compute 0
    /// and are never stored). Scales are copied as they are: callers check they are finite.
    /// </summary>
    internal static void Pack(byte* rows, long rowBytes, int rowCount, byte* destination)
    {
        int blocks = (int)(rowBytes / Q8_0Format.BlockBytes);
        Vector256<byte> offset = Vector256.Create((byte)0x80);
        for (int b = 0; b < blocks; b++)
        {
            byte* packed = destination + (long)b * PackedBlockBytes;
            ushort* scales = (ushort*)(packed + 256);
            for (int r = 0; r < RowGroup; r++)
            {
                if (r >= rowCount)
                {
                    for (int v = 0; v < 8; v++)
                    {
                        *(uint*)(packed + v * 32 + r * 4) = 0x80808080u;
                    }
                    scales[r] = 0;
                    continue;
                }
                byte* block = rows + r * rowBytes + (long)b * Q8_0Format.BlockBytes;
                scales[r] = *(ushort*)block;
                Vector256<uint> quads = (Vector256.Load(block + 2) ^ offset).AsUInt32(); // w + 128, unsigned
                for (int v = 0; v < 8; v++)
                {
                    *(uint*)(packed + v * 32 + r * 4) = quads.GetElement(v);
                }
            }
        }
    }

    /// <summary>
    /// One chunk of a panel: every four tokens meet every group (8 x 4 kernel), then the tokens left over one at
    /// a time. <paramref name="panel"/>: the chunk's first block in group 0 (groups <paramref name="groupBytes"/>
    /// apart); <paramref name="a"/>: the chunk's first block in token 0's activation row.
    /// </summary>
    private static void Chunk(byte* panel, int groups, long groupBytes, byte* a, int aStride, int tokens,
        int chunkBlocks, float* accumulators, int tokenStride)
    {
        int t = 0;
        for (; t + 4 <= tokens; t += 4)
        {
            for (int g = 0; g < groups; g++)
            {
                Dot8x4(panel + g * groupBytes, chunkBlocks, a + (long)t * aStride, aStride,
                    accumulators + t * tokenStride + g * RowGroup, tokenStride, fromMemory: false);
            }
        }
        for (; t < tokens; t++)
        {
            for (int g = 0; g < groups; g++)
            {
                Dot8x1Continue(panel + g * groupBytes, chunkBlocks, a + (long)t * aStride,
                    accumulators + t * tokenStride + g * RowGroup);
            }
        }
    }

    /// <summary>
    /// <paramref name="blocks"/> blocks of one group x four extended activation rows (<paramref name="aStride"/>
    /// apart), continuing the accumulators at c + j * cStride for token j (eight rows each). <paramref name="fromMemory"/>:
    /// the group is read from memory (not from a panel in cache), so its blocks are prefetched ahead.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    private static void Dot8x4(byte* group, int blocks, byte* a, int aStride, float* c, int cStride, bool fromMemory)
    {
        byte* a1 = a + aStride, a2 = a1 + aStride, a3 = a2 + aStride;
        Vector256<float> acc0 = Vector256.Load(c), acc1 = Vector256.Load(c + cStride);
        Vector256<float> acc2 = Vector256.Load(c + 2 * cStride), acc3 = Vector256.Load(c + 3 * cStride);
        for (int b = 0; b < blocks; b++)
        {
            // Each weight vector is loaded once for the four tokens; even and odd quads in separate chains. Written
            // out rather than looped over the quads: the JIT keeps such a loop, and its index arithmetic took as
            // many instructions as the products (every offset below is a constant).
            Vector256<int> e0 = Vector256<int>.Zero, e1 = Vector256<int>.Zero, e2 = Vector256<int>.Zero, e3 = Vector256<int>.Zero;
            Vector256<int> o0 = Vector256<int>.Zero, o1 = Vector256<int>.Zero, o2 = Vector256<int>.Zero, o3 = Vector256<int>.Zero;
            if (fromMemory)
            {
                Prefetch.Block(group, PackedBlockBytes);
            }
            QuadPair(group, 0, a, a1, a2, a3, ref e0, ref e1, ref e2, ref e3, ref o0, ref o1, ref o2, ref o3);
            QuadPair(group, 2, a, a1, a2, a3, ref e0, ref e1, ref e2, ref e3, ref o0, ref o1, ref o2, ref o3);
            QuadPair(group, 4, a, a1, a2, a3, ref e0, ref e1, ref e2, ref e3, ref o0, ref o1, ref o2, ref o3);
            QuadPair(group, 6, a, a1, a2, a3, ref e0, ref e1, ref e2, ref e3, ref o0, ref o1, ref o2, ref o3);
            Vector256<float> scales = RowGroupVectors.Halves(group + 256);
            acc0 = Accumulate(acc0, e0 + o0, scales, a);
            acc1 = Accumulate(acc1, e1 + o1, scales, a1);
            acc2 = Accumulate(acc2, e2 + o2, scales, a2);
            acc3 = Accumulate(acc3, e3 + o3, scales, a3);
            group += PackedBlockBytes;
            a += Q8TileKernels.ExtBlockBytes;
            a1 += Q8TileKernels.ExtBlockBytes;
            a2 += Q8TileKernels.ExtBlockBytes;
            a3 += Q8TileKernels.ExtBlockBytes;
        }
        acc0.Store(c);
        acc1.Store(c + cStride);
        acc2.Store(c + 2 * cStride);
        acc3.Store(c + 3 * cStride);
    }

    /// <summary>
    /// Quads <paramref name="v"/> (even chains) and v + 1 (odd chains) of one block for four tokens: each weight
    /// vector loaded once, four vpdpbusd each.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void QuadPair(byte* group, int v, byte* a0, byte* a1, byte* a2, byte* a3,
        ref Vector256<int> e0, ref Vector256<int> e1, ref Vector256<int> e2, ref Vector256<int> e3,
        ref Vector256<int> o0, ref Vector256<int> o1, ref Vector256<int> o2, ref Vector256<int> o3)
    {
        Vector256<byte> w = Vector256.Load(group + v * 32);
        e0 = AvxVnni.MultiplyWideningAndAdd(e0, w, Quad(a0, v));
        e1 = AvxVnni.MultiplyWideningAndAdd(e1, w, Quad(a1, v));
        e2 = AvxVnni.MultiplyWideningAndAdd(e2, w, Quad(a2, v));
        e3 = AvxVnni.MultiplyWideningAndAdd(e3, w, Quad(a3, v));
        w = Vector256.Load(group + v * 32 + 32);
        o0 = AvxVnni.MultiplyWideningAndAdd(o0, w, Quad(a0, v + 1));
        o1 = AvxVnni.MultiplyWideningAndAdd(o1, w, Quad(a1, v + 1));
        o2 = AvxVnni.MultiplyWideningAndAdd(o2, w, Quad(a2, v + 1));
        o3 = AvxVnni.MultiplyWideningAndAdd(o3, w, Quad(a3, v + 1));
    }

    /// <summary>One group x one extended activation row, continuing the eight accumulators at c.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    private static void Dot8x1Continue(byte* group, int blocks, byte* a, float* c)
    {
        Vector256<float> acc = Vector256.Load(c);
        for (int b = 0; b < blocks; b++)
        {
            acc = Accumulate(acc, BlockSums(group, a), RowGroupVectors.Halves(group + 256), a);
            group += PackedBlockBytes;
            a += Q8TileKernels.ExtBlockBytes;
        }
        acc.Store(c);
    }

    /// <summary>One whole group x one extended activation row (decoding); row r to y[r] for r below validRows.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Dot8x1(byte* group, int blocks, byte* a, float* y, int validRows)
    {
        Vector256<float> acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            acc = Accumulate(acc, BlockSums(group, a), RowGroupVectors.Halves(group + 256), a);
            group += PackedBlockBytes;
            a += Q8TileKernels.ExtBlockBytes;
        }
        RowGroupVectors.Store(acc, y, validRows);
    }

    /// <summary>
    /// <see cref="Dot8x1"/> of two whole groups, the second <paramref name="secondGroupOffset"/> bytes after the
    /// first, in lockstep (two read streams); each group's values are the ones <see cref="Dot8x1"/> gives.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Dot8x1Pair(byte* group, long secondGroupOffset, int blocks, byte* a, float* yFirst, float* ySecond)
    {
        byte* second = group + secondGroupOffset;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            Prefetch.Block(group, PackedBlockBytes);
            Prefetch.Block(second, PackedBlockBytes);
            acc0 = Accumulate(acc0, BlockSums(group, a), RowGroupVectors.Halves(group + 256), a);
            acc1 = Accumulate(acc1, BlockSums(second, a), RowGroupVectors.Halves(second + 256), a);
            group += PackedBlockBytes;
            second += PackedBlockBytes;
            a += Q8TileKernels.ExtBlockBytes;
        }
        RowGroupVectors.Store(acc0, yFirst, RowGroup);
        RowGroupVectors.Store(acc1, ySecond, RowGroup);
    }

    /// <summary>
    /// sum((w + 128) * q) over one block for the eight rows of a group: eight vpdpbusd in two independent chains
    /// (even and odd quads; integer sums, so the split changes nothing).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> BlockSums(byte* group, byte* activation)
    {
        Vector256<int> even = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Vector256.Load(group), Quad(activation, 0));
        Vector256<int> odd = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Vector256.Load(group + 32), Quad(activation, 1));
        even = AvxVnni.MultiplyWideningAndAdd(even, Vector256.Load(group + 64), Quad(activation, 2));
        odd = AvxVnni.MultiplyWideningAndAdd(odd, Vector256.Load(group + 96), Quad(activation, 3));
        even = AvxVnni.MultiplyWideningAndAdd(even, Vector256.Load(group + 128), Quad(activation, 4));
        odd = AvxVnni.MultiplyWideningAndAdd(odd, Vector256.Load(group + 160), Quad(activation, 5));
        even = AvxVnni.MultiplyWideningAndAdd(even, Vector256.Load(group + 192), Quad(activation, 6));
        odd = AvxVnni.MultiplyWideningAndAdd(odd, Vector256.Load(group + 224), Quad(activation, 7));
        return even + odd;
    }

    /// <summary>Activation elements 4v..4v+3 of a block, broadcast to every lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Quad(byte* activation, int v) => Vector256.Create(*(int*)(activation + 4 * v)).AsSByte();

    /// <summary>
    /// acc + (d_w x d_x) * (sum((w + 128) * q) - 128 * sum(q)) for eight rows: the block sums exact, the
    /// correction 16 x the extended row's 8 * sum(q).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Accumulate(Vector256<float> acc, Vector256<int> sums, Vector256<float> weightScales,
        byte* activation)
    {
        sums -= Vector256.Create(*(int*)(activation + Q8TileKernels.BlockCorrectionOffset) << 4);
        Vector256<float> scales = weightScales * Vector256.Create(*(float*)(activation + Q8TileKernels.ScaleOffset));
        return Fma.MultiplyAdd(scales, Avx.ConvertToVector256Single(sums), acc);
    }

    /// <summary>
    /// One row's value as the kernels compute it, scalar: each block's products summed exactly, then
    /// <c>acc = fma(d_w * d_x, sum, acc)</c> block by block. <paramref name="row"/> is a Q8_0 weight row and
    /// <paramref name="activation"/> a Q8_0 row (the values the kernels' extended rows hold).
    /// </summary>
    public static float Reference(ReadOnlySpan<byte> row, ReadOnlySpan<byte> activation, int blocks)
    {
        float acc = 0f;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> block = row.Slice(b * Q8_0Format.BlockBytes, Q8_0Format.BlockBytes);
            ReadOnlySpan<byte> partner = activation.Slice(b * Q8_0Format.BlockBytes, Q8_0Format.BlockBytes);
            int sum = 0;
            for (int e = 0; e < 32; e++)
            {
                sum += (sbyte)block[2 + e] * (sbyte)partner[2 + e];
            }
            float scale = F16Format.ToSingle(BitConverter.ToUInt16(block)) * F16Format.ToSingle(BitConverter.ToUInt16(partner));
            acc = MathF.FusedMultiplyAdd(scale, sum, acc);
        }
        return acc;
    }

    /// <summary>Pinned per-thread buffers for a packed panel and the accumulators; they grow and stay.</summary>
    private static class Scratch
    {
        [ThreadStatic]
        private static byte[]? t_panel;

        [ThreadStatic]
        private static float[]? t_accumulators;

        public static byte[] Bytes(int minimum)
        {
            byte[]? buffer = t_panel;
            if (buffer is null || buffer.Length < minimum)
            {
                buffer = GC.AllocateUninitializedArray<byte>(minimum, pinned: true);
                t_panel = buffer;
            }
            return buffer;
        }

        public static float[] Floats(int minimum)
        {
            float[]? buffer = t_accumulators;
            if (buffer is null || buffer.Length < minimum)
            {
                buffer = GC.AllocateUninitializedArray<float>(minimum, pinned: true);
                t_accumulators = buffer;
            }
            return buffer;
        }
    }
}
