using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Q4_0 weights interleaved in groups of eight rows, and their AVX2 kernels against Q8_0 activations: one row per
/// 32-bit vector lane.
/// <para>
/// Why: the row dot (<see cref="Q4_0Format.DotVector256"/>, ggml's vec_dot) keeps eight partial sums per row and
/// needs an unpack, a multiply-add and a float multiply-add per block for every row. With eight rows side by side a
/// block's 32 products are summed exactly in integers for all eight rows at once (one vpmaddubsw covers four
/// elements of eight rows) and one float multiply-add per block serves the eight. That halves the vector work per
/// weight, for prompts and for decoding alike (llama.cpp repacks Q4_0 the same way on x86). The value of each
/// (row, token) is <see cref="Reference"/>: exact block sums, <c>acc = fma(d_w * d_x, sum, acc)</c> block by
/// block; it differs from the row dot by float rounding only.
/// </para>
/// Layout of one group of eight rows of B blocks (<see cref="GroupBytes"/> = B x 144 bytes, the same bytes as the
/// eight Q4_0 rows it replaces), nibble part then scale part:
/// <code>
/// nibbles [B][4][32]: block b's 32 elements of the eight rows in <see cref="RowGroupVectors"/>' lane layout
/// scales  [B][8]:     row r's fp16 scale of block b
/// </code>
/// Scales stay fp16 (the block is read as often as the nibbles); the kernels widen them with an exact bit trick
/// that needs finite values, so groups with an Inf/NaN scale are never packed.
/// </summary>
internal static unsafe class Q4_0RowGroups
{
    /// <summary>Rows per group.</summary>
    public const int RowGroup = RowGroupVectors.RowGroup;

    /// <summary>Nibble bytes of one block of a group.</summary>
    private const int NibbleBytesPerBlock = RowGroupVectors.RunBytes;

    /// <summary>Scale bytes of one block of a group: eight fp16 scales.</summary>
    private const int ScaleBytesPerBlock = RowGroup * sizeof(ushort);

    // Decoding streams the groups once per token; prefetching 24 KB ahead kept more lines in flight than the 8 KB
    // the row kernels use: 2-11% faster over a TinyLlama-shaped Q4_0 pass on one and two threads (alternating in
    // one process, AVX2).
    private const int PrefetchDistance = 24 * 1024;

    /// <summary>Bytes of a group per block: the block's nibbles and its share of the scales after them.</summary>
    private const int GroupBytesPerBlock = NibbleBytesPerBlock + ScaleBytesPerBlock;

    /// <summary>Bytes of one group of <paramref name="blocks"/> blocks per row (eight Q4_0 rows).</summary>
    public static long GroupBytes(int blocks) => (long)blocks * (NibbleBytesPerBlock + ScaleBytesPerBlock);

    /// <summary>Whether this CPU runs the kernels (AVX2 + FMA, the level <see cref="MatrixKernels"/> uses for Q4_0).</summary>
    public static bool IsSupported => Q8TileKernels.IsSupportedFor(GgmlType.Q4_0);

    /// <summary>
    /// Packs <paramref name="rowCount"/> (1..8) Q4_0 rows (stride <paramref name="rowBytes"/>, a whole number of
    /// blocks) into one group at <paramref name="destination"/>; missing rows are zeros (their lanes compute 0).
    /// Scales are copied as they are: callers check they are finite.
    /// </summary>
    public static void Pack(byte* rows, long rowBytes, int rowCount, byte* destination)
    {
        int blocks = (int)(rowBytes / Q4_0Format.BlockBytes);
        ushort* scales = (ushort*)(destination + (long)blocks * NibbleBytesPerBlock);
        for (int b = 0; b < blocks; b++)
        {
            byte* nibbles = destination + (long)b * NibbleBytesPerBlock;
            for (int r = 0; r < RowGroup; r++)
            {
                if (r >= rowCount)
                {
                    for (int v = 0; v < 4; v++)
                    {
                        *(uint*)(nibbles + v * 32 + r * 4) = 0;
                    }
                    scales[b * RowGroup + r] = 0;
                    continue;
                }
                byte* block = rows + r * rowBytes + (long)b * Q4_0Format.BlockBytes;
                scales[b * RowGroup + r] = *(ushort*)block;
                // Elements 0..15 are the low nibbles of the 16 quant bytes, 16..31 the high ones.
                byte* quants = block + 2;
                if (Ssse3.IsSupported)
                {
                    Vector128<byte> bytes = Vector128.Load(quants);
                    Vector128<ulong> first = RowGroupVectors.TwoLanes(bytes & Vector128.Create((byte)0x0F));
                    Vector128<ulong> second = RowGroupVectors.TwoLanes((bytes.AsUInt16() >> 4).AsByte() & Vector128.Create((byte)0x0F));
                    for (int v = 0; v < 4; v++)
                    {
                        ulong pair = (v < 2 ? first : second).ToScalar();
                        *(uint*)(nibbles + v * 32 + r * 4) = (uint)(pair >> (32 * (v & 1)));
                    }
                    continue;
                }
                for (int v = 0; v < 4; v++)
                {
                    *(uint*)(nibbles + v * 32 + r * 4) = RowGroupVectors.Lane(quants, v & 1, v < 2 ? 0 : 4);
                }
            }
        }
    }

    /// <summary>
    /// Rewrites a Q4_0 matrix of <paramref name="rows"/> rows (a multiple of 8) in place into groups, using
    /// <paramref name="scratch"/> (<see cref="GroupBytes"/> bytes) for one group at a time. Returns false, with the
    /// matrix unchanged, when a scale is Inf or NaN.
    /// </summary>
    public static bool TryRegroupInPlace(byte* matrix, int rows, int blocks, byte* scratch) =>
        RowGroupVectors.TryRegroupInPlace(matrix, rows, (long)blocks * Q4_0Format.BlockBytes, Q4_0Format.BlockBytes,
            &RowGroupVectors.IsFiniteHalf, &Pack, scratch);

    /// <summary>
    /// One group against four extended activation rows (stride <paramref name="aStride"/>); row r, token j goes to
    /// y[r + j * yStride] for r below <paramref name="validRows"/>. <paramref name="fromMemory"/>: the group is not
    /// in cache yet (the first tokens of a regrouped matrix's batch), so its nibbles are prefetched ahead.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Dot8x4(byte* group, int blocks, byte* a, long aStride, float* y, long yStride, int validRows,
        bool fromMemory)
    {
        byte* scales = group + (long)blocks * NibbleBytesPerBlock;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        byte* a1 = a + aStride, a2 = a1 + aStride, a3 = a2 + aStride;
        byte* ahead = group + PrefetchDistance;
        for (int b = 0; b < blocks; b++)
        {
            if (fromMemory)
            {
                PrefetchBlock(ahead);
                ahead += GroupBytesPerBlock;
            }
            Vector256<float> weightScales = RowGroupVectors.Halves(scales);
            if (AvxVnni.IsSupported)
            {
                // Each vector's nibbles are loaded once for the four tokens; vpdpbusd sums straight into int32.
                Vector256<int> s0 = Vector256<int>.Zero, s1 = Vector256<int>.Zero;
                Vector256<int> s2 = Vector256<int>.Zero, s3 = Vector256<int>.Zero;
                for (int v = 0; v < 4; v++)
                {
                    Vector256<byte> raw = Vector256.Load(group + v * 32);
                    int offset = 8 * v;
                    s0 = RowGroupVectors.AddProducts(s0, raw, a + offset);
                    s1 = RowGroupVectors.AddProducts(s1, raw, a1 + offset);
                    s2 = RowGroupVectors.AddProducts(s2, raw, a2 + offset);
                    s3 = RowGroupVectors.AddProducts(s3, raw, a3 + offset);
                }
                acc0 = Accumulate(acc0, s0, weightScales, a);
                acc1 = Accumulate(acc1, s1, weightScales, a1);
                acc2 = Accumulate(acc2, s2, weightScales, a2);
                acc3 = Accumulate(acc3, s3, weightScales, a3);
            }
            else
            {
                Vector256<short> p0 = Vector256<short>.Zero, p1 = Vector256<short>.Zero;
                Vector256<short> p2 = Vector256<short>.Zero, p3 = Vector256<short>.Zero;
                // Each vector's nibbles are loaded once for the four tokens (RowGroupVectors.RunProducts bounds the sums).
                for (int v = 0; v < 4; v++)
                {
                    Vector256<byte> raw = Vector256.Load(group + v * 32);
                    int offset = 8 * v;
                    p0 += RowGroupVectors.Products(raw, a + offset);
                    p1 += RowGroupVectors.Products(raw, a1 + offset);
                    p2 += RowGroupVectors.Products(raw, a2 + offset);
                    p3 += RowGroupVectors.Products(raw, a3 + offset);
                }
                acc0 = Accumulate(acc0, Pairs(p0), weightScales, a);
                acc1 = Accumulate(acc1, Pairs(p1), weightScales, a1);
                acc2 = Accumulate(acc2, Pairs(p2), weightScales, a2);
                acc3 = Accumulate(acc3, Pairs(p3), weightScales, a3);
            }
            group += NibbleBytesPerBlock;
            scales += ScaleBytesPerBlock;
            a += Q8TileKernels.ExtBlockBytes;
            a1 += Q8TileKernels.ExtBlockBytes;
            a2 += Q8TileKernels.ExtBlockBytes;
            a3 += Q8TileKernels.ExtBlockBytes;
        }
        RowGroupVectors.Store(acc0, y, validRows);
        RowGroupVectors.Store(acc1, y + yStride, validRows);
        RowGroupVectors.Store(acc2, y + 2 * yStride, validRows);
        RowGroupVectors.Store(acc3, y + 3 * yStride, validRows);
    }

    /// <summary>One group against one extended activation row; row r to y[r] for r below validRows.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Dot8x1(byte* group, int blocks, byte* a, float* y, int validRows)
    {
        byte* scales = group + (long)blocks * NibbleBytesPerBlock;
        Vector256<float> acc = Vector256<float>.Zero;
        byte* ahead = group + PrefetchDistance;
        for (int b = 0; b < blocks; b++)
        {
            PrefetchBlock(ahead);
            ahead += GroupBytesPerBlock;
            acc = Accumulate(acc, RowGroupVectors.RunSums(group, a), RowGroupVectors.Halves(scales), a);
            group += NibbleBytesPerBlock;
            scales += ScaleBytesPerBlock;
            a += Q8TileKernels.ExtBlockBytes;
        }
        RowGroupVectors.Store(acc, y, validRows);
    }

    /// <summary>
    /// <see cref="Dot8x1"/> of two full groups at once, the second <paramref name="secondGroupOffset"/> bytes after
    /// the first, in lockstep (two read streams, see <see cref="DecodeRowPairs"/>); each group's values are the
    /// ones <see cref="Dot8x1"/> gives. Rows to yFirst[0..8) and ySecond[0..8).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Dot8x1Pair(byte* group, long secondGroupOffset, int blocks, byte* a, float* yFirst,
        float* ySecond)
    {
        byte* second = group + secondGroupOffset;
        long scalesOffset = (long)blocks * NibbleBytesPerBlock;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        byte* ahead = group + PrefetchDistance;
        for (int b = 0; b < blocks; b++)
        {
            PrefetchBlock(ahead);
            PrefetchBlock(ahead + secondGroupOffset);
            ahead += GroupBytesPerBlock;
            acc0 = Accumulate(acc0, RowGroupVectors.RunSums(group, a), RowGroupVectors.Halves(group + scalesOffset), a);
            acc1 = Accumulate(acc1, RowGroupVectors.RunSums(second, a), RowGroupVectors.Halves(second + scalesOffset), a);
            // The scales sit after all the nibbles: they move 16 bytes a block while the nibbles move 128.
            scalesOffset += ScaleBytesPerBlock - NibbleBytesPerBlock;
            group += NibbleBytesPerBlock;
            second += NibbleBytesPerBlock;
            a += Q8TileKernels.ExtBlockBytes;
        }
        RowGroupVectors.Store(acc0, yFirst, RowGroup);
        RowGroupVectors.Store(acc1, ySecond, RowGroup);
    }

    /// <summary>
    /// Prefetches the <see cref="GroupBytesPerBlock"/> bytes at <paramref name="ahead"/> (three lines cover them at
    /// any alignment). A kernel's cursor starts <see cref="PrefetchDistance"/> past its group and moves that much
    /// per block, so it sweeps the groups' bytes in memory order as fast as the kernel reads them, scales included.
    /// <para>Why not ahead of the nibbles: they take 128 of a block's 144 bytes, so a prefetch that followed them
    /// left a gap of one eighth of the bytes (a group's worth of scales, a kilobyte at 2048 columns) per group, and
    /// those lines were read from memory on demand. With the cursor, a TinyLlama-shaped Q4_0 decode step took
    /// 16.4 instead of 20.8 ms on two threads (five alternating rounds in one process, AVX-512 machine).</para>
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchBlock(byte* ahead)
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0(ahead);
            Sse.Prefetch0(ahead + 64);
            Sse.Prefetch0(ahead + 128);
        }
    }

    /// <summary>
    /// One row's value as the kernels compute it, scalar: each block's products summed exactly, then
    /// <c>acc = fma(d_w * d_x, sum, acc)</c> block by block. <paramref name="row"/> is a Q4_0 row in file layout
    /// and <paramref name="activation"/> a Q8_0 row (the values the kernels' extended rows hold).
    /// </summary>
    public static float Reference(ReadOnlySpan<byte> row, ReadOnlySpan<byte> activation, int blocks)
    {
        float acc = 0f;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> block = row.Slice(b * Q4_0Format.BlockBytes, Q4_0Format.BlockBytes);
            ReadOnlySpan<byte> partner = activation.Slice(b * Q8_0Format.BlockBytes, Q8_0Format.BlockBytes);
            int sum = 0;
            for (int e = 0; e < 32; e++)
            {
                int nibble = e < 16 ? block[2 + e] & 0x0F : block[2 + e - 16] >> 4;
                sum += (nibble - 8) * (sbyte)partner[2 + e];
            }
            float scale = F16Format.ToSingle(BitConverter.ToUInt16(block)) * F16Format.ToSingle(BitConverter.ToUInt16(partner));
            acc = MathF.FusedMultiplyAdd(scale, sum, acc);
        }
        return acc;
    }

    /// <summary>
    /// Rows [start, end) of a grouped matrix (start and end multiples of 8) against <paramref name="tokens"/>
    /// extended activation rows: tokens in fours, the rest one by one. Output is token-major: y[t * rows + r].
    /// </summary>
    public static void GroupedRows(byte* matrix, int rows, int blocks, byte* activations, int activationRowBytes,
        int tokens, float* output, int start, int end)
    {
        long groupBytes = GroupBytes(blocks);
        if (tokens == 1)
        {
            DecodeRowPairs.RunGroups(&Dot8x1Pair, &Dot8x1, blocks, matrix, groupBytes, activations, output,
                start / RowGroup, end / RowGroup);
            return;
        }
        for (int group = start; group < end; group += RowGroup)
        {
            Dot(matrix + group / RowGroup * groupBytes, blocks, activations, activationRowBytes, tokens,
                output + group, rows, RowGroup, fromMemory: true);
        }
    }

    /// <summary>
    /// Rows [start, end) of a Q4_0 matrix in file layout against <paramref name="tokens"/> extended activation rows:
    /// each group of eight rows is packed once into <paramref name="scratch"/> (<see cref="GroupBytes"/> bytes) and
    /// serves every token. A group with an Inf/NaN scale runs through the row dot instead, which carries them.
    /// </summary>
    public static void PackedRows(byte* weights, long rowBytes, int rows, int blocks, byte* activations,
        int activationRowBytes, int tokens, float* output, int start, int end, byte* scratch)
    {
        for (int group = start; group < end; group += RowGroup)
        {
            int valid = Math.Min(RowGroup, end - group);
            byte* groupRows = weights + group * rowBytes;
            if (AllFinite(groupRows, valid * rowBytes))
            {
                Pack(groupRows, rowBytes, valid, scratch);
                Dot(scratch, blocks, activations, activationRowBytes, tokens, output + group, rows, valid, fromMemory: false);
                continue;
            }
            for (int r = group; r < group + valid; r++)
            {
                for (int t = 0; t < tokens; t++)
                {
                    output[(long)t * rows + r] = Q8TileKernels.Q4_0Dot1(weights + r * rowBytes,
                        activations + (long)t * activationRowBytes, blocks);
                }
            }
        }
    }

    private static bool AllFinite(byte* blocks, long bytes)
    {
        for (long offset = 0; offset < bytes; offset += Q4_0Format.BlockBytes)
        {
            if (!RowGroupVectors.IsFiniteHalf(blocks + offset))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// One group against every token: fours, then ones. y is row 0 of the group for token 0. <paramref name="fromMemory"/>:
    /// the group is read from memory by the first four tokens (a regrouped matrix), not from a packed scratch in cache.
    /// </summary>
    private static void Dot(byte* group, int blocks, byte* activations, int activationRowBytes, int tokens,
        float* y, int rows, int valid, bool fromMemory)
    {
        int t = 0;
        for (; t + 4 <= tokens; t += 4)
        {
            Dot8x4(group, blocks, activations + (long)t * activationRowBytes, activationRowBytes, y + (long)t * rows,
                rows, valid, fromMemory && t == 0);
        }
        for (; t < tokens; t++)
        {
            Dot8x1(group, blocks, activations + (long)t * activationRowBytes, y + (long)t * rows, valid);
        }
    }

    /// <summary>int16 pair sums of a block (the non-VNNI sequence) summed into int32 lanes by pmaddwd with ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Pairs(Vector256<short> pairs) => Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1));

    /// <summary>acc + (d_w x d_x) * (sum(nibble * q) - 8 * sum(q)) for eight rows; every step exact but the fma.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Accumulate(Vector256<float> acc, Vector256<int> sums, Vector256<float> weightScales, byte* activation)
    {
        sums -= Vector256.Create(*(int*)(activation + Q8TileKernels.BlockCorrectionOffset));
        Vector256<float> scales = weightScales * Vector256.Create(*(float*)(activation + Q8TileKernels.ScaleOffset));
        return Fma.MultiplyAdd(scales, Avx.ConvertToVector256Single(sums), acc);
    }
}
