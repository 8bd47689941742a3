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
/// nibbles [B][4][32]: vector v of block b, lane r (bytes 4r..4r+3), byte k =
///                     element 8v+k of row r (low nibble) | element 8v+4+k of row r (high nibble) &lt;&lt; 4
/// scales  [B][8]:     row r's fp16 scale of block b
/// </code>
/// Scales stay fp16 (the block is read as often as the nibbles); the kernels widen them with an exact bit trick
/// that needs finite values, so groups with an Inf/NaN scale are never packed (<see cref="Pack"/> says so).
/// </summary>
internal static unsafe class Q4_0RowGroups
{
    /// <summary>Rows per group: one per 32-bit lane of a 256-bit vector.</summary>
    public const int RowGroup = 8;

    /// <summary>Nibble bytes of one block of a group: four vectors of 32 bytes.</summary>
    private const int NibbleBytesPerBlock = 128;

    /// <summary>Scale bytes of one block of a group: eight fp16 scales.</summary>
    private const int ScaleBytesPerBlock = RowGroup * sizeof(ushort);

    // Decoding streams the nibbles once per token; prefetching 24 KB ahead kept more lines in flight than the 8 KB
    // the row kernels use: 15-20% faster over a TinyLlama-shaped Q4_0 pass on one and two threads (alternating in
    // one process, AVX2).
    private const int PrefetchDistance = 24 * 1024;

    /// <summary>Bytes of one group of <paramref name="blocks"/> blocks per row (eight Q4_0 rows).</summary>
    public static long GroupBytes(int blocks) => (long)blocks * (NibbleBytesPerBlock + ScaleBytesPerBlock);

    /// <summary>Whether this CPU runs the kernels (AVX2 + FMA, the level <see cref="MatrixKernels"/> uses for Q4_0).</summary>
    public static bool IsSupported => Q8TileKernels.IsSupportedFor(GgmlType.Q4_0);

    /// <summary>
    /// Packs <paramref name="rowCount"/> (1..8) Q4_0 rows of <paramref name="blocks"/> blocks (stride
    /// <paramref name="rowBytes"/>) into one group at <paramref name="destination"/>; missing rows are zeros (their
    /// lanes compute 0). Returns false, leaving the destination partly written, when a scale is Inf or NaN.
    /// </summary>
    public static bool Pack(byte* rows, long rowBytes, int rowCount, int blocks, byte* destination)
    {
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
                ushort scale = *(ushort*)block;
                if ((scale & 0x7C00) == 0x7C00)
                {
                    return false;
                }
                scales[b * RowGroup + r] = scale;
                if (Ssse3.IsSupported)
                {
                    Vector128<uint> lanes = RowLanes(block + 2);
                    for (int v = 0; v < 4; v++)
                    {
                        *(uint*)(nibbles + v * 32 + r * 4) = lanes.GetElement(v);
                    }
                    continue;
                }
                for (int v = 0; v < 4; v++)
                {
                    *(uint*)(nibbles + v * 32 + r * 4) = RowLane(block + 2, v);
                }
            }
        }
        return true;
    }

    /// <summary>
    /// Row r's 32-bit lane of vector <paramref name="v"/> from its 16 quant bytes, scalar. Element e's nibble is the
    /// low half of quant byte e for e &lt; 16 and the high half of byte e - 16 after; elements 8v..8v+3 (low nibbles
    /// of the lane) and 8v+4..8v+7 (high nibbles) lie in the same half of the quant bytes.
    /// </summary>
    public static uint RowLane(byte* quants, int v)
    {
        int shift = v < 2 ? 0 : 4;
        int first = (8 * v) & 15;
        uint lane = 0;
        for (int k = 0; k < 4; k++)
        {
            uint low = (uint)(quants[first + k] >> shift) & 0x0F;
            uint high = (uint)(quants[first + 4 + k] >> shift) & 0x0F;
            lane |= (low | high << 4) << (8 * k);
        }
        return lane;
    }

    /// <summary>
    /// <see cref="RowLane"/> for v = 0..3 at once: the low and high nibbles of the 16 quant bytes, shuffled so that
    /// byte 4v + k holds the nibble of element 8v + k, then the nibbles of elements 8v + 4 + k moved above them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<uint> RowLanes(byte* quants)
    {
        Vector128<byte> bytes = Vector128.Load(quants);
        Vector128<byte> mask = Vector128.Create((byte)0x0F);
        Vector128<byte> low = bytes & mask;
        Vector128<byte> high = (bytes.AsUInt16() >> 4).AsByte() & mask;
        const byte None = 0x80; // pshufb writes 0
        Vector128<byte> firstLow = Vector128.Create(0, 1, 2, 3, 8, 9, 10, 11, None, None, None, None, None, None, None, None);
        Vector128<byte> firstHigh = Vector128.Create(None, None, None, None, None, None, None, None, 0, 1, 2, 3, 8, 9, 10, 11);
        Vector128<byte> secondLow = Vector128.Create(4, 5, 6, 7, 12, 13, 14, 15, None, None, None, None, None, None, None, None);
        Vector128<byte> secondHigh = Vector128.Create(None, None, None, None, None, None, None, None, 4, 5, 6, 7, 12, 13, 14, 15);
        Vector128<byte> first = Ssse3.Shuffle(low, firstLow) | Ssse3.Shuffle(high, firstHigh);
        Vector128<byte> second = Ssse3.Shuffle(low, secondLow) | Ssse3.Shuffle(high, secondHigh);
        // second's bytes are at most 0x0F, so a 16-bit shift by 4 moves each into its own byte's top half.
        return (first | (second.AsUInt16() << 4).AsByte()).AsUInt32();
    }

    /// <summary>
    /// Rewrites a Q4_0 matrix of <paramref name="rows"/> rows (a multiple of 8) in place into groups, using
    /// <paramref name="scratch"/> (<see cref="GroupBytes"/> bytes) for one group at a time. Returns false, with the
    /// matrix unchanged, when a scale is Inf or NaN (checked before anything is rewritten).
    /// </summary>
    public static bool TryRegroupInPlace(byte* matrix, int rows, int blocks, byte* scratch)
    {
        if (rows % RowGroup != 0)
        {
            throw new ArgumentException($"Rows must be a multiple of {RowGroup}, not {rows}.", nameof(rows));
        }
        long rowBytes = (long)blocks * Q4_0Format.BlockBytes;
        for (long block = 0, count = (long)rows * blocks; block < count; block++)
        {
            if ((*(ushort*)(matrix + block * Q4_0Format.BlockBytes) & 0x7C00) == 0x7C00)
            {
                return false;
            }
        }
        long groupBytes = GroupBytes(blocks);
        for (int group = 0; group < rows; group += RowGroup)
        {
            byte* rowsOfGroup = matrix + group * rowBytes;
            Pack(rowsOfGroup, rowBytes, RowGroup, blocks, scratch);
            Buffer.MemoryCopy(scratch, rowsOfGroup, groupBytes, groupBytes);
        }
        return true;
    }

    /// <summary>
    /// One group against four extended activation rows (stride <paramref name="aStride"/>); row r, token j goes to
    /// y[r + j * yStride] for r below <paramref name="validRows"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Dot8x4(byte* group, int blocks, byte* a, long aStride, float* y, long yStride, int validRows)
    {
        byte* scales = group + (long)blocks * NibbleBytesPerBlock;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        byte* a1 = a + aStride, a2 = a1 + aStride, a3 = a2 + aStride;
        for (int b = 0; b < blocks; b++)
        {
            Vector256<short> p0 = Vector256<short>.Zero, p1 = Vector256<short>.Zero;
            Vector256<short> p2 = Vector256<short>.Zero, p3 = Vector256<short>.Zero;
            // Each int16 lane gathers two products of one row per step, eight steps: at most
            // 8 x 2 x 15 x 127 = 30480 in magnitude, so the int16 sums cannot overflow.
            for (int v = 0; v < 4; v++)
            {
                Vector256<byte> raw = Vector256.Load(group + v * 32);
                Vector256<byte> low = LowNibbles(raw), high = HighNibbles(raw);
                int offset = 8 * v;
                p0 += Products(low, high, a + offset);
                p1 += Products(low, high, a1 + offset);
                p2 += Products(low, high, a2 + offset);
                p3 += Products(low, high, a3 + offset);
            }
            Vector256<float> weightScales = Scales(scales);
            acc0 = Accumulate(acc0, p0, weightScales, a);
            acc1 = Accumulate(acc1, p1, weightScales, a1);
            acc2 = Accumulate(acc2, p2, weightScales, a2);
            acc3 = Accumulate(acc3, p3, weightScales, a3);
            group += NibbleBytesPerBlock;
            scales += ScaleBytesPerBlock;
            a += Q8TileKernels.ExtBlockBytes;
            a1 += Q8TileKernels.ExtBlockBytes;
            a2 += Q8TileKernels.ExtBlockBytes;
            a3 += Q8TileKernels.ExtBlockBytes;
        }
        Store(acc0, y, validRows);
        Store(acc1, y + yStride, validRows);
        Store(acc2, y + 2 * yStride, validRows);
        Store(acc3, y + 3 * yStride, validRows);
    }

    /// <summary>One group against one extended activation row; row r to y[r] for r below validRows.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Dot8x1(byte* group, int blocks, byte* a, float* y, int validRows)
    {
        byte* scales = group + (long)blocks * NibbleBytesPerBlock;
        Vector256<float> acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            if (Sse.IsSupported)
            {
                Sse.Prefetch0(group + PrefetchDistance);
                Sse.Prefetch0(group + PrefetchDistance + 64);
            }
            Vector256<short> p = Vector256<short>.Zero;
            for (int v = 0; v < 4; v++)
            {
                Vector256<byte> raw = Vector256.Load(group + v * 32);
                p += Products(LowNibbles(raw), HighNibbles(raw), a + 8 * v);
            }
            acc = Accumulate(acc, p, Scales(scales), a);
            group += NibbleBytesPerBlock;
            scales += ScaleBytesPerBlock;
            a += Q8TileKernels.ExtBlockBytes;
        }
        Store(acc, y, validRows);
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
    /// Rows [start, end) of a grouped matrix (start a multiple of 8; the last group may be partly valid only when
    /// <paramref name="end"/> is <paramref name="rows"/>) against <paramref name="tokens"/> extended activation rows:
    /// tokens in fours, the rest one by one. Output is token-major: y[t * rows + r].
    /// </summary>
    public static void GroupedRows(byte* matrix, int rows, int blocks, byte* activations, int activationRowBytes,
        int tokens, float* output, int start, int end)
    {
        long groupBytes = GroupBytes(blocks);
        for (int group = start; group < end; group += RowGroup)
        {
            Dot(matrix + group / RowGroup * groupBytes, blocks, activations, activationRowBytes, tokens,
                output + group, rows, Math.Min(RowGroup, end - group));
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
            if (Pack(weights + group * rowBytes, rowBytes, valid, blocks, scratch))
            {
                Dot(scratch, blocks, activations, activationRowBytes, tokens, output + group, rows, valid);
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

    /// <summary>One group against every token: fours, then ones. y is row 0 of the group for token 0.</summary>
    private static void Dot(byte* group, int blocks, byte* activations, int activationRowBytes, int tokens,
        float* y, int rows, int valid)
    {
        int t = 0;
        for (; t + 4 <= tokens; t += 4)
        {
            Dot8x4(group, blocks, activations + (long)t * activationRowBytes, activationRowBytes, y + (long)t * rows,
                rows, valid);
        }
        for (; t < tokens; t++)
        {
            Dot8x1(group, blocks, activations + (long)t * activationRowBytes, y + (long)t * rows, valid);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> LowNibbles(Vector256<byte> raw) => raw & Vector256.Create((byte)0x0F);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> HighNibbles(Vector256<byte> raw) =>
        Avx2.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & Vector256.Create((byte)0x0F);

    /// <summary>
    /// Pairwise products of eight elements of eight rows: the low nibbles against activation quants 0..3 from
    /// <paramref name="quants"/>, the high ones against quants 4..7, as int16 pair sums.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Products(Vector256<byte> low, Vector256<byte> high, byte* quants) =>
        Avx2.MultiplyAddAdjacent(low, Vector256.Create(*(int*)quants).AsSByte())
        + Avx2.MultiplyAddAdjacent(high, Vector256.Create(*(int*)(quants + 4)).AsSByte());

    /// <summary>
    /// Eight finite fp16 scales widened exactly: sign-extended, shifted under the float fields, masked to sign and
    /// 15 magnitude bits, then re-biased by one exact multiply by 2^112 (subnormal halves included).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Scales(byte* halves)
    {
        Vector256<int> fields = (Avx2.ConvertToVector256Int32((short*)halves) << 13) & Vector256.Create(unchecked((int)0x8FFFE000));
        return fields.AsSingle() * Vector256.Create(BitConverter.UInt32BitsToSingle(0x77800000u));
    }

    /// <summary>acc + (d_w x d_x) * (sum(nibble * q) - 8 * sum(q)) for eight rows; every step exact but the fma.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Accumulate(Vector256<float> acc, Vector256<short> pairs, Vector256<float> weightScales, byte* activation)
    {
        Vector256<int> sums = Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1))
            - Vector256.Create(*(int*)(activation + Q8TileKernels.BlockCorrectionOffset));
        Vector256<float> scales = weightScales * Vector256.Create(*(float*)(activation + Q8TileKernels.ScaleOffset));
        return Fma.MultiplyAdd(scales, Avx.ConvertToVector256Single(sums), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector256<float> values, float* y, int validRows)
    {
        if (validRows == RowGroup)
        {
            values.Store(y);
            return;
        }
        for (int r = 0; r < validRows; r++)
        {
            y[r] = values.GetElement(r);
        }
    }
}
