using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Q8_0 weights x a batch of Q8_0 activations (prompt processing) with AVX-VNNI: eight weight rows side by side,
/// one row per 32-bit lane, so one <c>vpdpbusd</c> adds four products to each of eight rows and a block's 32
/// products per row are summed exactly in integers; one float multiply-add per block then serves the eight rows.
/// <para>
/// Why: the row dot (<see cref="Q8_0Format.DotVector256"/>, ggml's vec_dot) spends a sign fix-up, a vpdpbusd, a
/// conversion, a multiply and a multiply-add on every (row, token, block). Here a (row group, token, block) takes
/// eight vpdpbusd (each with its activation quad broadcast from memory) and the conversion, multiply and
/// multiply-add once for all eight rows: about a third of the vector work. The weights are made unsigned once per
/// batch (w + 128, packed with the rows), and the surplus 128 * sum(q) per block comes from the activation side
/// (the extended row's correction 8 * sum(q), times 16), so every block sum is exact. The value of each (row,
/// token) is <see cref="Reference"/>: exact block sums, <c>acc = fma(d_w * d_x, sum, acc)</c> block by block;
/// it differs from the row dot by float rounding only, as llama.cpp's repacked Q8_0 paths do.
/// </para>
/// <para>
/// Blocking, as <see cref="F16Gemm"/>: a panel of row groups (about <see cref="PanelBudgetBytes"/>, in L2) is
/// packed once per batch, tokens pass over it <see cref="TokenPanel"/> at a time and the blocks in chunks of
/// <see cref="ChunkBlocks"/>, so four tokens' activation pieces (4 x 1.1 KB) and a group's chunk (4.5 KB) stay in
/// L1 while the tokens meet every group of the panel. The eight float accumulators of a (group, token) wait in a
/// per-thread buffer between chunks; each lane still adds its blocks in order, so chunking changes no bits.
/// </para>
/// Packed group of eight rows, per block (<see cref="PackedBlockBytes"/> = 288 bytes):
/// <code>
/// quants [8 quads][8 rows][4]: quad v holds elements 4v..4v+3 of each row, as unsigned bytes w + 128
/// scales [8] float:           row r's scale, widened from fp16 (Inf and NaN carried)
/// </code>
/// </summary>
internal static unsafe class Q8_0Gemm
{
    /// <summary>Rows per group (one per 32-bit lane of a 256-bit vector).</summary>
    public const int RowGroup = 8;

    /// <summary>Bytes of one block of a packed group: 256 quant bytes and 8 float scales.</summary>
    public const int PackedBlockBytes = 256 + RowGroup * sizeof(float);

    /// <summary>Packed bytes per panel: 256 KB, inside one core's L2 beside the activations passing by.</summary>
    public const int PanelBudgetBytes = 256 * 1024;

    /// <summary>Blocks per chunk (512 columns).</summary>
    public const int ChunkBlocks = 16;

    /// <summary>Tokens whose accumulators a panel keeps between chunks (a multiple of 4).</summary>
    public const int TokenPanel = 64;

    /// <summary>Whether this CPU runs the kernels: AVX2, FMA and AVX-VNNI (256-bit <c>vpdpbusd</c>).</summary>
    public static bool IsSupported => Avx2.IsSupported && Fma.IsSupported && AvxVnni.IsSupported;

    /// <summary>
    /// output[t * rows + r] for Q8_0 weight rows [start, end) (file layout, <paramref name="rowBytes"/> apart) and
    /// <paramref name="tokens"/> extended activation rows (<see cref="Q8TileKernels.QuantizeRow"/> with the
    /// correction, <paramref name="activationRowBytes"/> apart).
    /// </summary>
    public static void Rows(byte* weights, long rowBytes, int rows, int blocks, byte* activations,
        int activationRowBytes, int tokens, float* output, int start, int end)
    {
        long groupBytes = (long)blocks * PackedBlockBytes;
        int rangeGroups = (end - start + RowGroup - 1) / RowGroup;
        int panelGroups = (int)Math.Clamp(PanelBudgetBytes / groupBytes, 1, rangeGroups);
        byte[] panelArray = Scratch.Bytes(checked((int)(panelGroups * groupBytes) + 64));
        float[] accumulatorArray = Scratch.Floats(TokenPanel * panelGroups * RowGroup + 16);
        fixed (byte* panelBase = panelArray)
        fixed (float* accumulatorBase = accumulatorArray)
        {
            byte* panel = (byte*)(((nuint)panelBase + 63) & ~(nuint)63);
            float* accumulators = (float*)(((nuint)accumulatorBase + 63) & ~(nuint)63);
            int tokenStride = panelGroups * RowGroup; // floats between one token's accumulators and the next's
            for (int panelStart = start; panelStart < end; panelStart += panelGroups * RowGroup)
            {
                int panelRows = Math.Min(panelGroups * RowGroup, end - panelStart);
                int groups = (panelRows + RowGroup - 1) / RowGroup;
                for (int g = 0; g < groups; g++)
                {
                    Pack(weights + (panelStart + g * RowGroup) * rowBytes, rowBytes, blocks,
                        Math.Min(RowGroup, panelRows - g * RowGroup), panel + g * groupBytes);
                }
                for (int tokenStart = 0; tokenStart < tokens; tokenStart += TokenPanel)
                {
                    int tokenCount = Math.Min(TokenPanel, tokens - tokenStart);
                    new Span<float>(accumulators, tokenCount * tokenStride).Clear();
                    byte* tokenActivations = activations + (long)tokenStart * activationRowBytes;
                    for (int chunk = 0; chunk < blocks; chunk += ChunkBlocks)
                    {
                        int chunkBlocks = Math.Min(ChunkBlocks, blocks - chunk);
                        Chunk(panel + (long)chunk * PackedBlockBytes, groups, groupBytes,
                            tokenActivations + (long)chunk * Q8TileKernels.ExtBlockBytes, activationRowBytes,
                            tokenCount, chunkBlocks, accumulators, tokenStride);
                    }
                    for (int t = 0; t < tokenCount; t++)
                    {
                        float* source = accumulators + t * tokenStride;
                        float* destination = output + (long)(tokenStart + t) * rows + panelStart;
                        new ReadOnlySpan<float>(source, panelRows).CopyTo(new Span<float>(destination, panelRows));
                    }
                }
            }
        }
    }

    /// <summary>
    /// Writes <paramref name="rowCount"/> (1..8) Q8_0 rows of <paramref name="blocks"/> blocks as one packed group;
    /// missing rows get zero scales (their lanes compute 0 and are never stored).
    /// </summary>
    internal static void Pack(byte* rows, long rowBytes, int blocks, int rowCount, byte* destination)
    {
        Vector256<byte> offset = Vector256.Create((byte)0x80);
        for (int b = 0; b < blocks; b++)
        {
            byte* packed = destination + (long)b * PackedBlockBytes;
            float* scales = (float*)(packed + 256);
            for (int r = 0; r < RowGroup; r++)
            {
                if (r >= rowCount)
                {
                    for (int v = 0; v < 8; v++)
                    {
                        *(uint*)(packed + v * 32 + r * 4) = 0x80808080u;
                    }
                    scales[r] = 0f;
                    continue;
                }
                byte* block = rows + r * rowBytes + (long)b * Q8_0Format.BlockBytes;
                scales[r] = F16Format.ToSingle(*(ushort*)block);
                Vector256<byte> quants = Vector256.Load(block + 2) ^ offset; // w + 128 as an unsigned byte
                Vector256<uint> quads = quants.AsUInt32();
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
                    accumulators + t * tokenStride + g * RowGroup, tokenStride);
            }
        }
        for (; t < tokens; t++)
        {
            for (int g = 0; g < groups; g++)
            {
                Dot8x1(panel + g * groupBytes, chunkBlocks, a + (long)t * aStride,
                    accumulators + t * tokenStride + g * RowGroup);
            }
        }
    }

    /// <summary>
    /// <paramref name="blocks"/> packed blocks of one group x four extended activation rows (<paramref name="aStride"/>
    /// apart), continuing the accumulators at c + j * cStride for token j (eight rows each).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    private static void Dot8x4(byte* group, int blocks, byte* a, int aStride, float* c, int cStride)
    {
        byte* a1 = a + aStride, a2 = a1 + aStride, a3 = a2 + aStride;
        Vector256<float> acc0 = Vector256.Load(c), acc1 = Vector256.Load(c + cStride);
        Vector256<float> acc2 = Vector256.Load(c + 2 * cStride), acc3 = Vector256.Load(c + 3 * cStride);
        for (int b = 0; b < blocks; b++)
        {
            Vector256<int> s0 = Vector256<int>.Zero, s1 = Vector256<int>.Zero;
            Vector256<int> s2 = Vector256<int>.Zero, s3 = Vector256<int>.Zero;
            for (int v = 0; v < 8; v++)
            {
                Vector256<byte> w = Vector256.Load(group + v * 32);
                s0 = AvxVnni.MultiplyWideningAndAdd(s0, w, Quad(a, v));
                s1 = AvxVnni.MultiplyWideningAndAdd(s1, w, Quad(a1, v));
                s2 = AvxVnni.MultiplyWideningAndAdd(s2, w, Quad(a2, v));
                s3 = AvxVnni.MultiplyWideningAndAdd(s3, w, Quad(a3, v));
            }
            Vector256<float> scales = Vector256.Load((float*)(group + 256));
            acc0 = Accumulate(acc0, s0, scales, a);
            acc1 = Accumulate(acc1, s1, scales, a1);
            acc2 = Accumulate(acc2, s2, scales, a2);
            acc3 = Accumulate(acc3, s3, scales, a3);
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

    /// <summary>One group x one extended activation row, continuing the eight accumulators at c.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    private static void Dot8x1(byte* group, int blocks, byte* a, float* c)
    {
        Vector256<float> acc = Vector256.Load(c);
        for (int b = 0; b < blocks; b++)
        {
            Vector256<int> s = Vector256<int>.Zero;
            for (int v = 0; v < 8; v++)
            {
                s = AvxVnni.MultiplyWideningAndAdd(s, Vector256.Load(group + v * 32), Quad(a, v));
            }
            acc = Accumulate(acc, s, Vector256.Load((float*)(group + 256)), a);
            group += PackedBlockBytes;
            a += Q8TileKernels.ExtBlockBytes;
        }
        acc.Store(c);
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

    /// <summary>Pinned per-thread buffers for the packed panel and the accumulators; they grow and stay.</summary>
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
