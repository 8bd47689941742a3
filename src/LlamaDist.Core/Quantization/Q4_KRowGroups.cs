using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Q4_K weights interleaved in groups of eight rows, and their AVX2 kernel against Q8_K activations: one row per
/// 32-bit vector lane, as <see cref="Q4_0RowGroups"/> does for Q4_0.
/// <para>
/// Why: the row dot (<see cref="Q4_KFormat.DotVector256"/>, ggml's vec_dot) unpacks one row's scales, nibbles and
/// minimums per block; with eight rows side by side each vpmaddubsw covers four elements of eight rows, each
/// sub-block's products are summed exactly in integers and scaled by the rows' 6-bit scales in one vpmaddwd, and
/// one float multiply-add per block serves the eight rows (llama.cpp repacks Q4_K for x86 the same way). The
/// value of each (row, token) is <see cref="Reference"/>: per block the exact integer sums
/// <c>isum = sum_j sc_j * dot_j</c> and <c>msum = sum_j m_j * bsum_j</c>, then
/// <c>acc = fma(d * d_a, isum, acc)</c>, <c>accMin = fma(dmin * d_a, msum, accMin)</c>, and <c>acc - accMin</c> at
/// the end; it differs from the row dot by float rounding only.
/// </para>
/// Layout of one block of a group (<see cref="GroupBlockBytes"/> = 1152 bytes, the eight rows' 8 x 144):
/// <code>
/// nibbles [8][4][32]   sub-block j's 32 elements of the eight rows in RowGroupVectors' lane layout
/// words   [3][8]       the rows' packed 6-bit scales and minimums as three 32-bit words each (word w of row r
///                      at 32w + 4r), so that one vector operation unpacks them for all eight rows
/// d       [8], dmin [8] the rows' fp16 super-block scales (finite: groups with Inf/NaN are not made)
/// </code>
/// </summary>
internal static unsafe class Q4_KRowGroups
{
    /// <summary>Rows per group.</summary>
    public const int RowGroup = RowGroupVectors.RowGroup;

    /// <summary>Bytes of one block (256 columns) of a group: the same as eight Q4_K blocks.</summary>
    public const int GroupBlockBytes = RowGroup * Q4_KFormat.BlockBytes;

    private const int WordsOffset = 8 * RowGroupVectors.RunBytes; // 1024
    private const int ScalesOffset = WordsOffset + 3 * 32;        // 1120: d [8] then dmin [8]

    // As for Q4_0's row groups: 24 KB ahead keeps more of the stream in flight than the row kernels' 8 KB.
    private const int PrefetchDistance = 24 * 1024;

    /// <summary>Bytes of one group of <paramref name="blocks"/> blocks per row (eight Q4_K rows).</summary>
    public static long GroupBytes(int blocks) => (long)blocks * GroupBlockBytes;

    /// <summary>Whether this CPU runs the kernel (the AVX2 level <see cref="MatrixKernels"/> uses for Q4_K).</summary>
    public static bool IsSupported => KQuantTileKernels.IsSupportedFor(GgmlType.Q4_K) && Fma.IsSupported;

    /// <summary>
    /// Packs <paramref name="rowCount"/> (1..8) Q4_K rows (stride <paramref name="rowBytes"/>, whole blocks) into one
    /// group at <paramref name="destination"/>; missing rows are zeros. d and dmin are copied as they are: callers
    /// check they are finite.
    /// </summary>
    public static void Pack(byte* rows, long rowBytes, int rowCount, byte* destination)
    {
        int blocks = (int)(rowBytes / Q4_KFormat.BlockBytes);
        for (int b = 0; b < blocks; b++)
        {
            byte* group = destination + (long)b * GroupBlockBytes;
            for (int r = 0; r < RowGroup; r++)
            {
                if (r >= rowCount)
                {
                    for (int v = 0; v < 32; v++)
                    {
                        *(uint*)(group + v * 32 + r * 4) = 0; // 8 sub-blocks x 4 vectors, then the three words
                    }
                    for (int w = 0; w < 3; w++)
                    {
                        *(uint*)(group + WordsOffset + w * 32 + r * 4) = 0;
                    }
                    ((ushort*)(group + ScalesOffset))[r] = 0;
                    ((ushort*)(group + ScalesOffset))[RowGroup + r] = 0;
                    continue;
                }
                byte* block = rows + r * rowBytes + (long)b * Q4_KFormat.BlockBytes;
                ((ushort*)(group + ScalesOffset))[r] = *(ushort*)block;
                ((ushort*)(group + ScalesOffset))[RowGroup + r] = *(ushort*)(block + 2);
                for (int w = 0; w < 3; w++)
                {
                    *(uint*)(group + WordsOffset + w * 32 + r * 4) = *(uint*)(block + Q4_KFormat.ScalesOffset + 4 * w);
                }
                // Sub-block j holds the low (even j) or high (odd j) nibbles of quant bytes 32 * (j / 2) ...
                for (int j = 0; j < 8; j++)
                {
                    byte* source = block + Q4_KFormat.QuantsOffset + 32 * (j >> 1);
                    int shift = (j & 1) * 4;
                    byte* run = group + j * RowGroupVectors.RunBytes + r * 4;
                    if (Ssse3.IsSupported)
                    {
                        Vector128<byte> mask = Vector128.Create((byte)0x0F);
                        Vector128<byte> first = (Vector128.Load(source).AsUInt16() >> shift).AsByte() & mask;
                        Vector128<byte> second = (Vector128.Load(source + 16).AsUInt16() >> shift).AsByte() & mask;
                        ulong lanes01 = RowGroupVectors.TwoLanes(first)[0];
                        ulong lanes23 = RowGroupVectors.TwoLanes(second)[0];
                        *(uint*)run = (uint)lanes01;
                        *(uint*)(run + 32) = (uint)(lanes01 >> 32);
                        *(uint*)(run + 64) = (uint)lanes23;
                        *(uint*)(run + 96) = (uint)(lanes23 >> 32);
                        continue;
                    }
                    for (int v = 0; v < 4; v++)
                    {
                        *(uint*)(run + v * 32) = RowGroupVectors.Lane(source, v, shift);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Rewrites a Q4_K matrix of <paramref name="rows"/> rows (a multiple of 8) in place into groups, using
    /// <paramref name="scratch"/> (<see cref="GroupBytes"/> bytes). Returns false, with the matrix unchanged, when a
    /// d or dmin is Inf or NaN.
    /// </summary>
    public static bool TryRegroupInPlace(byte* matrix, int rows, int blocks, byte* scratch) =>
        RowGroupVectors.TryRegroupInPlace(matrix, rows, (long)blocks * Q4_KFormat.BlockBytes, Q4_KFormat.BlockBytes,
            &ScalesAreFinite, &Pack, scratch);

    private static bool ScalesAreFinite(byte* block) =>
        RowGroupVectors.IsFiniteHalf(block) && RowGroupVectors.IsFiniteHalf(block + 2);

    /// <summary>One group against one Q8_K activation row; row r to y[r] for r below validRows.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Dot8x1(byte* group, int blocks, byte* a, float* y, int validRows)
    {
        Vector256<float> acc = Vector256<float>.Zero, accMin = Vector256<float>.Zero;
        Vector256<uint> sixBits = Vector256.Create(0x3F3F3F3Fu), lowNibbles = Vector256.Create(0x0F0F0F0Fu);
        Vector256<uint> twoBits = Vector256.Create(0x03030303u);
        for (int b = 0; b < blocks; b++)
        {
            if (Sse.IsSupported)
            {
                for (int line = 0; line < GroupBlockBytes; line += 64)
                {
                    Sse.Prefetch0(group + PrefetchDistance + line);
                }
            }
            // Q4_KScales for eight rows at once: scales / minimums of sub-blocks 0-3 and 4-7, a byte per row each.
            Vector256<uint> u0 = Vector256.Load((uint*)(group + WordsOffset));
            Vector256<uint> u1 = Vector256.Load((uint*)(group + WordsOffset + 32));
            Vector256<uint> u2 = Vector256.Load((uint*)(group + WordsOffset + 64));
            Vector256<byte> scalesLow = (u0 & sixBits).AsByte();
            Vector256<byte> minsLow = (u1 & sixBits).AsByte();
            Vector256<byte> scalesHigh = ((u2 & lowNibbles) | (((u0 >> 6) & twoBits) << 4)).AsByte();
            Vector256<byte> minsHigh = (((u2 >> 4) & lowNibbles) | (((u1 >> 6) & twoBits) << 4)).AsByte();

            byte* quants = a + Q8_KFormat.QuantsOffset;
            Vector256<int> sums = Vector256<int>.Zero;
            sums += SubBlock(group, quants, 0, scalesLow);
            sums += SubBlock(group, quants, 1, scalesLow);
            sums += SubBlock(group, quants, 2, scalesLow);
            sums += SubBlock(group, quants, 3, scalesLow);
            sums += SubBlock(group, quants, 4, scalesHigh);
            sums += SubBlock(group, quants, 5, scalesHigh);
            sums += SubBlock(group, quants, 6, scalesHigh);
            sums += SubBlock(group, quants, 7, scalesHigh);

            Vector256<int> minSums = MinimumSums(MinimumPairs(minsLow, 0), MinimumPairs(minsLow, 2),
                MinimumPairs(minsHigh, 0), MinimumPairs(minsHigh, 2), a);

            Vector256<float> da = Vector256.Create(Q8_KFormat.Scale(a));
            acc = Fma.MultiplyAdd(RowGroupVectors.Halves(group + ScalesOffset) * da, Avx.ConvertToVector256Single(sums), acc);
            accMin = Fma.MultiplyAdd(RowGroupVectors.Halves(group + ScalesOffset + 16) * da,
                Avx.ConvertToVector256Single(minSums), accMin);
            group += GroupBlockBytes;
            a += Q8_KFormat.BlockBytes;
        }
        RowGroupVectors.Store(acc - accMin, y, validRows);
    }

    /// <summary>
    /// One group against two Q8_K activation rows (stride <paramref name="aStride"/>; token j to
    /// y[j * yStride + r]): each vector's nibbles and each block's scales are unpacked once for both tokens. Every
    /// value is the one <see cref="Dot8x1"/> gives (the same integer sums and float steps per token).
    /// <paramref name="fromMemory"/>: the group is not in cache yet, so its blocks are prefetched ahead as
    /// <see cref="Dot8x1"/> does.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Dot8x2(byte* group, int blocks, byte* a, long aStride, float* y, long yStride, int validRows,
        bool fromMemory)
    {
        Vector256<float> acc0 = Vector256<float>.Zero, accMin0 = Vector256<float>.Zero;
        Vector256<float> acc1 = Vector256<float>.Zero, accMin1 = Vector256<float>.Zero;
        Vector256<uint> sixBits = Vector256.Create(0x3F3F3F3Fu), lowNibbles = Vector256.Create(0x0F0F0F0Fu);
        Vector256<uint> twoBits = Vector256.Create(0x03030303u);
        byte* a1 = a + aStride;
        for (int b = 0; b < blocks; b++)
        {
            if (fromMemory && Sse.IsSupported)
            {
                for (int line = 0; line < GroupBlockBytes; line += 64)
                {
                    Sse.Prefetch0(group + PrefetchDistance + line);
                }
            }
            Vector256<uint> u0 = Vector256.Load((uint*)(group + WordsOffset));
            Vector256<uint> u1 = Vector256.Load((uint*)(group + WordsOffset + 32));
            Vector256<uint> u2 = Vector256.Load((uint*)(group + WordsOffset + 64));
            Vector256<float> d = RowGroupVectors.Halves(group + ScalesOffset);
            Vector256<float> dmin = RowGroupVectors.Halves(group + ScalesOffset + 16);

            // Minimums first, so that their registers are free for the sub-blocks.
            Vector256<byte> minsLow = (u1 & sixBits).AsByte();
            Vector256<byte> minsHigh = (((u2 >> 4) & lowNibbles) | (((u1 >> 6) & twoBits) << 4)).AsByte();
            Vector256<short> m01 = MinimumPairs(minsLow, 0), m23 = MinimumPairs(minsLow, 2);
            Vector256<short> m45 = MinimumPairs(minsHigh, 0), m67 = MinimumPairs(minsHigh, 2);
            Vector256<float> da0 = Vector256.Create(Q8_KFormat.Scale(a));
            Vector256<float> da1 = Vector256.Create(Q8_KFormat.Scale(a1));
            accMin0 = Fma.MultiplyAdd(dmin * da0, Avx.ConvertToVector256Single(MinimumSums(m01, m23, m45, m67, a)), accMin0);
            accMin1 = Fma.MultiplyAdd(dmin * da1, Avx.ConvertToVector256Single(MinimumSums(m01, m23, m45, m67, a1)), accMin1);

            Vector256<byte> scalesLow = (u0 & sixBits).AsByte();
            Vector256<byte> scalesHigh = ((u2 & lowNibbles) | (((u0 >> 6) & twoBits) << 4)).AsByte();
            byte* q0 = a + Q8_KFormat.QuantsOffset, q1 = a1 + Q8_KFormat.QuantsOffset;
            Vector256<int> sums0 = Vector256<int>.Zero, sums1 = Vector256<int>.Zero;
            SubBlock2(group, q0, q1, 0, scalesLow, ref sums0, ref sums1);
            SubBlock2(group, q0, q1, 1, scalesLow, ref sums0, ref sums1);
            SubBlock2(group, q0, q1, 2, scalesLow, ref sums0, ref sums1);
            SubBlock2(group, q0, q1, 3, scalesLow, ref sums0, ref sums1);
            SubBlock2(group, q0, q1, 4, scalesHigh, ref sums0, ref sums1);
            SubBlock2(group, q0, q1, 5, scalesHigh, ref sums0, ref sums1);
            SubBlock2(group, q0, q1, 6, scalesHigh, ref sums0, ref sums1);
            SubBlock2(group, q0, q1, 7, scalesHigh, ref sums0, ref sums1);
            acc0 = Fma.MultiplyAdd(d * da0, Avx.ConvertToVector256Single(sums0), acc0);
            acc1 = Fma.MultiplyAdd(d * da1, Avx.ConvertToVector256Single(sums1), acc1);
            group += GroupBlockBytes;
            a += Q8_KFormat.BlockBytes;
            a1 += Q8_KFormat.BlockBytes;
        }
        RowGroupVectors.Store(acc0 - accMin0, y, validRows);
        RowGroupVectors.Store(acc1 - accMin1, y + yStride, validRows);
    }

    /// <summary><see cref="SubBlock"/> for two tokens, each nibble vector loaded and unpacked once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SubBlock2(byte* group, byte* quants0, byte* quants1, int j, Vector256<byte> scaleBytes,
        ref Vector256<int> sums0, ref Vector256<int> sums1)
    {
        byte* run = group + j * RowGroupVectors.RunBytes;
        Vector256<short> p0 = Vector256<short>.Zero, p1 = Vector256<short>.Zero;
        for (int v = 0; v < 4; v++)
        {
            Vector256<byte> raw = Vector256.Load(run + v * 32);
            int offset = 32 * j + 8 * v;
            p0 += RowGroupVectors.Products(raw, quants0 + offset);
            p1 += RowGroupVectors.Products(raw, quants1 + offset);
        }
        Vector256<short> spread = ScaleSpread(scaleBytes, j);
        sums0 += Avx2.MultiplyAddAdjacent(p0, spread);
        sums1 += Avx2.MultiplyAddAdjacent(p1, spread);
    }

    /// <summary>
    /// sum_j m_j * bsum_j for eight rows: bsum_j is the sum of sub-block j's 32 quants of the Q8_K block at
    /// <paramref name="activation"/> (two 16-element group sums, at most 4064 in magnitude), taken in pairs
    /// (bsum_2p, bsum_2p+1) against the rows' minimum pairs, one vpmaddwd each.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> MinimumSums(Vector256<short> m01, Vector256<short> m23, Vector256<short> m45,
        Vector256<short> m67, byte* activation)
    {
        Vector128<short> bsums = Ssse3.HorizontalAdd(Vector128.Load((short*)(activation + Q8_KFormat.SumsOffset)),
            Vector128.Load((short*)(activation + Q8_KFormat.SumsOffset + 16)));
        Vector256<int> pairs = Vector256.Create(bsums.AsInt32(), bsums.AsInt32());
        return Avx2.MultiplyAddAdjacent(m01, Avx2.Shuffle(pairs, 0x00).AsInt16())
            + Avx2.MultiplyAddAdjacent(m23, Avx2.Shuffle(pairs, 0x55).AsInt16())
            + Avx2.MultiplyAddAdjacent(m45, Avx2.Shuffle(pairs, 0xAA).AsInt16())
            + Avx2.MultiplyAddAdjacent(m67, Avx2.Shuffle(pairs, 0xFF).AsInt16());
    }

    /// <summary>
    /// sc_j * dot_j for eight rows as int32 lanes: the run's exact int16 pair sums times each row's 6-bit scale
    /// (byte j % 4 of its lane in <paramref name="scaleBytes"/>, spread over both int16 halves).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> SubBlock(byte* group, byte* quants, int j, Vector256<byte> scaleBytes)
    {
        Vector256<short> products = RowGroupVectors.RunProducts(group + j * RowGroupVectors.RunBytes, quants + 32 * j);
        return Avx2.MultiplyAddAdjacent(products, ScaleSpread(scaleBytes, j));
    }

    /// <summary>Each row's scale of sub-block j (byte j % 4 of its lane) spread over both int16 halves of the lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> ScaleSpread(Vector256<byte> scaleBytes, int j)
    {
        byte k = (byte)(j & 3);
        return Avx2.Shuffle(scaleBytes, Vector256.Create(
            k, 0x80, k, 0x80, (byte)(4 + k), 0x80, (byte)(4 + k), 0x80,
            (byte)(8 + k), 0x80, (byte)(8 + k), 0x80, (byte)(12 + k), 0x80, (byte)(12 + k), 0x80,
            k, 0x80, k, 0x80, (byte)(4 + k), 0x80, (byte)(4 + k), 0x80,
            (byte)(8 + k), 0x80, (byte)(8 + k), 0x80, (byte)(12 + k), 0x80, (byte)(12 + k), 0x80)).AsInt16();
    }

    /// <summary>
    /// Each row's minimums of sub-blocks (first, first + 1) of the four in <paramref name="minimumBytes"/> (a byte
    /// per sub-block in each lane) as an int16 pair.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> MinimumPairs(Vector256<byte> minimumBytes, int first)
    {
        byte k = (byte)first, l = (byte)(first + 1);
        return Avx2.Shuffle(minimumBytes, Vector256.Create(
            k, 0x80, l, 0x80, (byte)(4 + k), 0x80, (byte)(4 + l), 0x80,
            (byte)(8 + k), 0x80, (byte)(8 + l), 0x80, (byte)(12 + k), 0x80, (byte)(12 + l), 0x80,
            k, 0x80, l, 0x80, (byte)(4 + k), 0x80, (byte)(4 + l), 0x80,
            (byte)(8 + k), 0x80, (byte)(8 + l), 0x80, (byte)(12 + k), 0x80, (byte)(12 + l), 0x80)).AsInt16();
    }

    /// <summary>
    /// One row's value as the kernel computes it, scalar (see the class summary). <paramref name="row"/> is a Q4_K
    /// row in file layout and <paramref name="activation"/> a Q8_K row.
    /// </summary>
    public static float Reference(ReadOnlySpan<byte> row, ReadOnlySpan<byte> activation, int blocks)
    {
        float acc = 0f, accMin = 0f;
        fixed (byte* weights = row)
        fixed (byte* activations = activation)
        {
            for (int b = 0; b < blocks; b++)
            {
                byte* block = weights + b * Q4_KFormat.BlockBytes;
                byte* partner = activations + b * Q8_KFormat.BlockBytes;
                sbyte* quants = (sbyte*)(partner + Q8_KFormat.QuantsOffset);
                short* groupSums = (short*)(partner + Q8_KFormat.SumsOffset);
                int sums = 0, minSums = 0;
                for (int j = 0; j < 8; j++)
                {
                    Q4_KFormat.ScaleAndMin(j, block + Q4_KFormat.ScalesOffset, out int scale, out int minimum);
                    byte* source = block + Q4_KFormat.QuantsOffset + 32 * (j >> 1);
                    int dot = 0;
                    for (int e = 0; e < 32; e++)
                    {
                        dot += ((source[e] >> ((j & 1) * 4)) & 0x0F) * quants[32 * j + e];
                    }
                    sums += scale * dot;
                    minSums += minimum * (groupSums[2 * j] + groupSums[2 * j + 1]);
                }
                float da = Q8_KFormat.Scale(partner);
                acc = MathF.FusedMultiplyAdd(Q4_KFormat.Half(block) * da, sums, acc);
                accMin = MathF.FusedMultiplyAdd(Q4_KFormat.Half(block + 2) * da, minSums, accMin);
            }
        }
        return acc - accMin;
    }

    /// <summary>
    /// Rows [start, end) of a grouped matrix (multiples of 8) against <paramref name="tokens"/> Q8_K activation
    /// rows, every token per group while the group is in cache (two at a time, then one). Output is token-major:
    /// y[t * rows + r].
    /// </summary>
    public static void GroupedRows(byte* matrix, int rows, int blocks, byte* activations, int activationRowBytes,
        int tokens, float* output, int start, int end)
    {
        long groupBytes = GroupBytes(blocks);
        for (int group = start; group < end; group += RowGroup)
        {
            byte* weights = matrix + group / RowGroup * groupBytes;
            int t = 0;
            for (; t + 2 <= tokens; t += 2)
            {
                Dot8x2(weights, blocks, activations + (long)t * activationRowBytes, activationRowBytes,
                    output + (long)t * rows + group, rows, RowGroup, fromMemory: t == 0);
            }
            if (t < tokens)
            {
                Dot8x1(weights, blocks, activations + (long)t * activationRowBytes, output + (long)t * rows + group, RowGroup);
            }
        }
    }
}
