using LlamaDist.Core.Gguf;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// AVX2 matrix kernels for Q4_K and Q6_K weights against Q8_K activations (and, through <see cref="Rows"/>, Q3_K's
/// and Q5_K's in <see cref="Q3_KTileKernels"/> and <see cref="Q5_KTileKernels"/>). For every (weight row, token) pair they
/// give exactly the value of <see cref="Q4_KFormat.DotVector256"/> / <see cref="Q6_KFormat.DotVector256"/>:
/// per super-block the same exact int32 lane sums (lane j holds elements 4j..4j+3 of every 32-element group,
/// scaled by the group's sub-block scale), the same <c>fma(d_a * d_w, lanes, acc)</c> per block, the same
/// minimum terms (Q4_K) and the same final horizontal sums. Integer lane sums are exact, so the order the
/// groups are added in does not matter; every float operation is kept in the single dot's order.
/// What changes is the work around the integer products:
/// <list type="bullet">
/// <item>Prompts (<see cref="Q4_KDot1x4"/>, <see cref="Q6_KDot1x4"/>): one weight row against four tokens.
/// The super-block's scales, minimums and quants are unpacked once and serve four activation rows (four
/// accumulators), instead of once per token. Q4_K's minimum terms of two tokens share one 256-bit vector.</item>
/// <item>Decode (<see cref="Q4_KDot2x1"/>, <see cref="Q6_KDot2x1"/>): two weight rows (far apart, see
/// <see cref="DecodeRowPairs"/>) against one token, each activation vector loaded once for both rows, with weight
/// prefetch.</item>
/// <item>Q4_K scales and minimums are unpacked with four 32-bit word operations instead of eight per-sub-block
/// bit extractions.</item>
/// <item>Q6_K quants are unpacked with two operations for a group's high bits instead of three, and each
/// group's scales are one shuffle of the block's scales widened once. In prompts the quants are made signed
/// (q - 32) once per weight block and multiplied as <c>maddubs(|w|, sign(a, w))</c> against each of the four
/// tokens: the same exact pair sums as <c>maddubs(q, a) - maddubs(32, a)</c> for every activation quant in
/// [-127, 127], which is all <see cref="Q8_KFormat.QuantizeRow(float*, byte*, int)"/> writes (the element of
/// largest magnitude maps to -127 and the rest are clamped at 127). In decode the two rows share the token, so
/// they take the single dot's own form with its <c>maddubs(32, a)</c> computed once for both: from cache, one
/// thread ran a 512 x 2048 matrix at 30 GB/s against 20 with the signed form and the old unpacking.</item>
/// </list>
/// Shapes: weights are rows of <c>blocks</c> super-blocks (144 bytes Q4_K, 210 bytes Q6_K per 256 columns);
/// activations are Q8_K rows (292 bytes per 256 columns), <c>aStride</c> bytes apart.
/// </summary>
internal static unsafe class KQuantTileKernels
{
    /// <summary>
    /// Whether these kernels run <paramref name="weightType"/> in MatrixKernels: Q3_K / Q4_K / Q5_K / Q6_K on a CPU with
    /// AVX2 and FMA whose default level for the type selects the AVX2 single dot (the values these kernels
    /// reproduce).
    /// </summary>
    public static bool IsSupportedFor(GgmlType weightType) =>
        weightType is GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K &&
        KQuantFit.UsesAvx2(Quantizer.DefaultLevel(weightType));

    /// <summary>A type's three kernels: two rows x one token, one row x four tokens, and the single dot for the rest.</summary>
    private readonly struct Kernels(
        delegate*<byte*, long, byte*, int, float*, void> twoRows,
        delegate*<byte*, byte*, long, int, float*, long, void> fourTokens,
        delegate*<byte*, byte*, int, float> single)
    {
        public readonly delegate*<byte*, long, byte*, int, float*, void> TwoRows = twoRows;
        public readonly delegate*<byte*, byte*, long, int, float*, long, void> FourTokens = fourTokens;
        public readonly delegate*<byte*, byte*, int, float> Single = single;
    }

    /// <summary>
    /// The kernels for <paramref name="type"/>; the two-row decode kernels of Q3_K and Q6_K with both rows in one
    /// 512-bit register where <see cref="KQuantPairKernels512.IsSupported"/> (the same results).
    /// </summary>
    private static Kernels For(GgmlType type)
    {
        bool wide = KQuantPairKernels512.IsSupported;
        return type switch
        {
            GgmlType.Q3_K => new Kernels(wide ? &KQuantPairKernels512.Q3_KDot2x1 : &Q3_KTileKernels.Q3_KDot2x1,
                &Q3_KTileKernels.Q3_KDot1x4, &Q3_KFormat.DotVector256),
            GgmlType.Q4_K => new Kernels(&Q4_KDot2x1, &Q4_KDot1x4, &Q4_KFormat.DotVector256),
            GgmlType.Q5_K => new Kernels(&Q5_KTileKernels.Q5_KDot2x1, &Q5_KTileKernels.Q5_KDot1x4, &Q5_KFormat.DotVector256),
            GgmlType.Q6_K => new Kernels(wide ? &KQuantPairKernels512.Q6_KDot2x1 : &Q6_KDot2x1, &Q6_KDot1x4, &Q6_KFormat.DotVector256),
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, "No K-quant tile kernels for this type."),
        };
    }

    /// <summary>
    /// Weight rows [start, end) of one matrix against <paramref name="tokens"/> Q8_K activation rows; output is
    /// [tokens, rows]. One token runs two rows far apart per call (<see cref="DecodeRowPairs"/>); a batch runs in
    /// the tiles of <see cref="FourTokenTiles"/>, each weight row meeting four tokens per call (leftover tokens and
    /// an odd last row use the single dot).
    /// </summary>
    public static void Rows(GgmlType type, byte* weights, long weightRowBytes, int rows, int columns,
        byte* activations, int activationRowBytes, int tokens, float* output, int start, int end)
    {
        Kernels kernels = For(type);
        int blocks = columns / Q8_KFormat.BlockSize;
        if (tokens == 1)
        {
            DecodeRowPairs.Run(kernels.TwoRows, blocks, kernels.Single, columns, weights, weightRowBytes,
                activations, output, start, end);
            return;
        }
        FourTokenTiles.Run(kernels.FourTokens, kernels.Single, blocks, columns, weights, weightRowBytes, rows, activations,
            activationRowBytes, tokens, output, start, end);
    }

    // ---------------------------------------------------------------------------------------------- Q4_K

    /// <summary>
    /// The 8 six-bit scales and 8 six-bit minimums of a Q4_K block as int16 lanes, the values of
    /// <see cref="Q4_KFormat.ScaleAndMin"/> for sub-blocks 0..7, from the 12 packed bytes read as three words:
    /// sub-blocks 0-3 are the low 6 bits of bytes 0-3 (scales) and 4-7 (minimums); sub-blocks 4-7 take their low
    /// 4 bits from the nibbles of bytes 8-11 and their top 2 bits from the spare top bits of bytes 0-3 / 4-7.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Q4_KScales(byte* packed, out Vector128<short> scales, out Vector128<short> mins)
    {
        uint u0 = Unsafe.ReadUnaligned<uint>(packed);
        uint u1 = Unsafe.ReadUnaligned<uint>(packed + 4);
        uint u2 = Unsafe.ReadUnaligned<uint>(packed + 8);
        uint scalesLow = u0 & 0x3F3F3F3Fu;
        uint minsLow = u1 & 0x3F3F3F3Fu;
        uint scalesHigh = (u2 & 0x0F0F0F0Fu) | (((u0 >> 6) & 0x03030303u) << 4);
        uint minsHigh = ((u2 >> 4) & 0x0F0F0F0Fu) | (((u1 >> 6) & 0x03030303u) << 4);
        scales = Sse41.ConvertToVector128Int16(Vector128.CreateScalar(((ulong)scalesHigh << 32) | scalesLow).AsByte());
        mins = Sse41.ConvertToVector128Int16(Vector128.CreateScalar(((ulong)minsHigh << 32) | minsLow).AsByte());
    }

    /// <summary>
    /// Q4_K minimum terms of two activation blocks (tokens or the same token twice) in one vector: lanes 0-3
    /// are <paramref name="a0"/>'s four products of minimum pairs x bsum pairs (the single dot's pmaddwd after
    /// its phaddw), lanes 4-7 <paramref name="a1"/>'s; each lane gets the single dot's
    /// <c>fma(-d_a * dmin_w, products, accMin)</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Q4_KMinimums(Vector256<float> accMin, Vector256<short> mins, float dmin0,
        float dmin1, byte* a0, byte* a1)
    {
        Vector256<short> sums0 = Vector256.Load((short*)(a0 + Q8_KFormat.SumsOffset));
        Vector256<short> sums1 = Vector256.Load((short*)(a1 + Q8_KFormat.SumsOffset));
        // Per 128-bit lane: [pairs of a0's sums | pairs of a1's sums]; reorder the 64-bit quarters so that the
        // low half is a0's eight pair sums in the single dot's order and the high half a1's.
        Vector256<short> pairs = Avx2.HorizontalAdd(sums0, sums1);
        pairs = Avx2.Permute4x64(pairs.AsInt64(), 0b11_01_10_00).AsInt16();
        Vector256<int> products = Avx2.MultiplyAddAdjacent(mins, pairs);
        float scale0 = -Q8_KFormat.Scale(a0) * dmin0;
        float scale1 = -Q8_KFormat.Scale(a1) * dmin1;
        Vector256<float> scale = Vector256.Create(Vector128.Create(scale0), Vector128.Create(scale1));
        return Fma.MultiplyAdd(scale, Avx.ConvertToVector256Single(products), accMin);
    }

    /// <summary>The single dot's ending: hsum_float_8 of the lanes plus the four minimum lanes as (0 + 2) + (1 + 3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Q4_KFinish(Vector256<float> acc, Vector128<float> accMin)
    {
        float minTotal = (accMin.GetElement(0) + accMin.GetElement(2)) + (accMin.GetElement(1) + accMin.GetElement(3));
        return Int8Dot.HorizontalSum(acc) + minTotal;
    }

    /// <summary>
    /// Exact int32 lanes of one 64-element chunk: scaleLow * (low nibbles . a[0..31]) +
    /// scaleHigh * (high nibbles . a[32..63]), pairs summed by pmaddubsw then pmaddwd as the single dot does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Q4_KChunk(Vector256<byte> low, Vector256<byte> high, Vector256<short> scaleLow,
        Vector256<short> scaleHigh, sbyte* a)
    {
        Vector256<int> lowSums = Avx2.MultiplyAddAdjacent(scaleLow, Avx2.MultiplyAddAdjacent(low, Vector256.Load(a)));
        Vector256<int> highSums = Avx2.MultiplyAddAdjacent(scaleHigh, Avx2.MultiplyAddAdjacent(high, Vector256.Load(a + 32)));
        return Avx2.Add(lowSums, highSums);
    }

    /// <summary>Chunk <paramref name="chunk"/> (64 elements) of one Q4_K block against four tokens' quants.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4_KChunk1x4(byte* q, short* scaleValues, int chunk, Vector256<byte> lowMask,
        sbyte* q0, sbyte* q1, sbyte* q2, sbyte* q3,
        ref Vector256<int> sum0, ref Vector256<int> sum1, ref Vector256<int> sum2, ref Vector256<int> sum3)
    {
        Vector256<short> scaleLow = Vector256.Create(scaleValues[2 * chunk]);
        Vector256<short> scaleHigh = Vector256.Create(scaleValues[2 * chunk + 1]);
        Vector256<byte> bits = Vector256.Load(q + 32 * chunk);
        Vector256<byte> low = bits & lowMask;
        Vector256<byte> high = (bits.AsUInt16() >> 4).AsByte() & lowMask;
        int offset = 64 * chunk;
        sum0 = Avx2.Add(sum0, Q4_KChunk(low, high, scaleLow, scaleHigh, q0 + offset));
        sum1 = Avx2.Add(sum1, Q4_KChunk(low, high, scaleLow, scaleHigh, q1 + offset));
        sum2 = Avx2.Add(sum2, Q4_KChunk(low, high, scaleLow, scaleHigh, q2 + offset));
        sum3 = Avx2.Add(sum3, Q4_KChunk(low, high, scaleLow, scaleHigh, q3 + offset));
    }

    /// <summary>
    /// One Q4_K weight row against four Q8_K activation rows (stride <paramref name="aStride"/> bytes);
    /// results to y[0], y[yStride], y[2 * yStride], y[3 * yStride].
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Q4_KDot1x4(byte* w, byte* a, long aStride, int blocks, float* y, long yStride)
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        Vector256<float> accMin01 = Vector256<float>.Zero, accMin23 = Vector256<float>.Zero;
        Vector256<byte> lowMask = Vector256.Create((byte)0x0F);
        short* scaleValues = stackalloc short[8];
        byte* a0 = a, a1 = a + aStride, a2 = a + 2 * aStride, a3 = a + 3 * aStride;
        for (int b = 0; b < blocks; b++)
        {
            Prefetch.Block(w, Q4_KFormat.BlockBytes);
            float dw = Q4_KFormat.Half(w);
            float dminw = Q4_KFormat.Half(w + 2);
            Q4_KScales(w + Q4_KFormat.ScalesOffset, out Vector128<short> scales, out Vector128<short> mins);
            scales.Store(scaleValues);
            Vector256<short> mins2 = Vector256.Create(mins, mins);
            accMin01 = Q4_KMinimums(accMin01, mins2, dminw, dminw, a0, a1);
            accMin23 = Q4_KMinimums(accMin23, mins2, dminw, dminw, a2, a3);

            byte* q = w + Q4_KFormat.QuantsOffset;
            sbyte* q0 = (sbyte*)(a0 + Q8_KFormat.QuantsOffset), q1 = (sbyte*)(a1 + Q8_KFormat.QuantsOffset);
            sbyte* q2 = (sbyte*)(a2 + Q8_KFormat.QuantsOffset), q3 = (sbyte*)(a3 + Q8_KFormat.QuantsOffset);
            Vector256<int> sum0 = Vector256<int>.Zero, sum1 = Vector256<int>.Zero;
            Vector256<int> sum2 = Vector256<int>.Zero, sum3 = Vector256<int>.Zero;
            // Unrolled by hand (constant offsets): the JIT does not unroll the four chunks itself.
            Q4_KChunk1x4(q, scaleValues, 0, lowMask, q0, q1, q2, q3, ref sum0, ref sum1, ref sum2, ref sum3);
            Q4_KChunk1x4(q, scaleValues, 1, lowMask, q0, q1, q2, q3, ref sum0, ref sum1, ref sum2, ref sum3);
            Q4_KChunk1x4(q, scaleValues, 2, lowMask, q0, q1, q2, q3, ref sum0, ref sum1, ref sum2, ref sum3);
            Q4_KChunk1x4(q, scaleValues, 3, lowMask, q0, q1, q2, q3, ref sum0, ref sum1, ref sum2, ref sum3);
            acc0 = Fma.MultiplyAdd(Vector256.Create(Q8_KFormat.Scale(a0) * dw), Avx.ConvertToVector256Single(sum0), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Create(Q8_KFormat.Scale(a1) * dw), Avx.ConvertToVector256Single(sum1), acc1);
            acc2 = Fma.MultiplyAdd(Vector256.Create(Q8_KFormat.Scale(a2) * dw), Avx.ConvertToVector256Single(sum2), acc2);
            acc3 = Fma.MultiplyAdd(Vector256.Create(Q8_KFormat.Scale(a3) * dw), Avx.ConvertToVector256Single(sum3), acc3);
            w += Q4_KFormat.BlockBytes;
            a0 += Q8_KFormat.BlockBytes;
            a1 += Q8_KFormat.BlockBytes;
            a2 += Q8_KFormat.BlockBytes;
            a3 += Q8_KFormat.BlockBytes;
        }
        y[0] = Q4_KFinish(acc0, accMin01.GetLower());
        y[yStride] = Q4_KFinish(acc1, accMin01.GetUpper());
        y[2 * yStride] = Q4_KFinish(acc2, accMin23.GetLower());
        y[3 * yStride] = Q4_KFinish(acc3, accMin23.GetUpper());
    }

    /// <summary>
    /// pshufb control taking the minimums (bytes 8-15 of each 128-bit half of <see cref="Q4_KScales2x1"/>'s result)
    /// to int16 lanes: row 0's eight minimums in the low half, row 1's in the high half.
    /// </summary>
    internal static Vector256<byte> Q4_KMinimumsControl() => Vector256.Create(
        (byte)8, 0x80, 9, 0x80, 10, 0x80, 11, 0x80, 12, 0x80, 13, 0x80, 14, 0x80, 15, 0x80,
        8, 0x80, 9, 0x80, 10, 0x80, 11, 0x80, 12, 0x80, 13, 0x80, 14, 0x80, 15, 0x80);

    /// <summary>
    /// The scales and minimums of two Q4_K blocks as bytes, row <paramref name="w0"/> in the low 128-bit half and
    /// <paramref name="w1"/> in the high half, each half as dwords [scales 0-3, scales 4-7, minimums 0-3,
    /// minimums 4-7]: the bit operations of <see cref="Q4_KScales"/> on both rows at once in ten vector
    /// instructions instead of about seventy scalar ones (the decode kernel was bound by them). Reads 16 bytes
    /// from each block's scales, the last four of them quants (ignored).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<byte> Q4_KScales2x1(byte* w0, byte* w1)
    {
        Vector256<uint> packed = Vector256.Create(Vector128.Load((uint*)(w0 + Q4_KFormat.ScalesOffset)),
            Vector128.Load((uint*)(w1 + Q4_KFormat.ScalesOffset)));
        // Per half, with the packed words u0, u1, u2: low bits [u0, u2, u1, u2 >> 4] and top bits [-, u0, -, u1].
        Vector256<uint> low = Avx2.Shuffle(packed, 0b10_01_10_00);
        Vector256<uint> top = Avx2.Shuffle(packed, 0b01_01_00_00);
        low = Avx2.ShiftRightLogicalVariable(low, Vector256.Create(0u, 0, 0, 4, 0, 0, 0, 4));
        low &= Vector256.Create(0x3F3F3F3Fu, 0x0F0F0F0Fu, 0x3F3F3F3Fu, 0x0F0F0F0Fu,
            0x3F3F3F3Fu, 0x0F0F0F0Fu, 0x3F3F3F3Fu, 0x0F0F0F0Fu);
        top = Avx2.ShiftLeftLogical(Avx2.ShiftRightLogical(top, 6) &
            Vector256.Create(0u, 0x03030303u, 0, 0x03030303u, 0, 0x03030303u, 0, 0x03030303u), 4);
        return (low | top).AsByte();
    }

    /// <summary>
    /// Chunk <paramref name="chunk"/> (64 elements) of two rows' Q4_K blocks against one token's quants.
    /// <paramref name="scales0"/> / <paramref name="scales1"/> hold a row's scale bytes in both 128-bit halves;
    /// pshufb spreads scale 2 * chunk (low nibbles) and 2 * chunk + 1 (high nibbles) as int16 to every lane.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q4_KChunk2x1(byte* p0, byte* p1, sbyte* q, int chunk, Vector256<byte> scales0,
        Vector256<byte> scales1, ref Vector256<int> sum0, ref Vector256<int> sum1)
    {
        Vector256<byte> lowMask = Vector256.Create((byte)0x0F);
        Vector256<byte> lowScale = Vector256.Create((ushort)(0x8000 | (2 * chunk))).AsByte();
        Vector256<byte> highScale = Vector256.Create((ushort)(0x8000 | (2 * chunk + 1))).AsByte();
        Vector256<sbyte> activationLow = Vector256.Load(q + 64 * chunk);
        Vector256<sbyte> activationHigh = Vector256.Load(q + 64 * chunk + 32);
        Vector256<byte> bits0 = Vector256.Load(p0 + 32 * chunk);
        Vector256<byte> bits1 = Vector256.Load(p1 + 32 * chunk);
        Vector256<int> low0 = Avx2.MultiplyAddAdjacent(Avx2.Shuffle(scales0, lowScale).AsInt16(),
            Avx2.MultiplyAddAdjacent(bits0 & lowMask, activationLow));
        Vector256<int> high0 = Avx2.MultiplyAddAdjacent(Avx2.Shuffle(scales0, highScale).AsInt16(),
            Avx2.MultiplyAddAdjacent((bits0.AsUInt16() >> 4).AsByte() & lowMask, activationHigh));
        Vector256<int> low1 = Avx2.MultiplyAddAdjacent(Avx2.Shuffle(scales1, lowScale).AsInt16(),
            Avx2.MultiplyAddAdjacent(bits1 & lowMask, activationLow));
        Vector256<int> high1 = Avx2.MultiplyAddAdjacent(Avx2.Shuffle(scales1, highScale).AsInt16(),
            Avx2.MultiplyAddAdjacent((bits1.AsUInt16() >> 4).AsByte() & lowMask, activationHigh));
        sum0 = Avx2.Add(sum0, Avx2.Add(low0, high0));
        sum1 = Avx2.Add(sum1, Avx2.Add(low1, high1));
    }

    /// <summary>
    /// Two Q4_K weight rows (the second <paramref name="rowBytes"/> bytes after the first) against one Q8_K
    /// activation row;
    /// results to y[0] and y[1].
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Q4_KDot2x1(byte* w, long rowBytes, byte* a, int blocks, float* y)
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> accMin = Vector256<float>.Zero; // row 0 in lanes 0-3, row 1 in lanes 4-7
        Vector256<byte> minimumsControl = Q4_KMinimumsControl();
        byte* w1 = w + rowBytes;
        for (int b = 0; b < blocks; b++)
        {
            Prefetch.Block(w, Q4_KFormat.BlockBytes);
            Prefetch.Block(w1, Q4_KFormat.BlockBytes);
            Vector256<byte> unpacked = Q4_KScales2x1(w, w1);
            accMin = Q4_KMinimums(accMin, Avx2.Shuffle(unpacked, minimumsControl).AsInt16(), Q4_KFormat.Half(w + 2),
                Q4_KFormat.Half(w1 + 2), a, a);
            Vector256<byte> scales0 = Avx2.Permute4x64(unpacked.AsUInt64(), 0b01_00_01_00).AsByte();
            Vector256<byte> scales1 = Avx2.Permute4x64(unpacked.AsUInt64(), 0b11_10_11_10).AsByte();

            byte* p0 = w + Q4_KFormat.QuantsOffset;
            byte* p1 = w1 + Q4_KFormat.QuantsOffset;
            sbyte* q = (sbyte*)(a + Q8_KFormat.QuantsOffset);
            Vector256<int> sum0 = Vector256<int>.Zero, sum1 = Vector256<int>.Zero;
            // Unrolled by hand (constant offsets and pshufb controls): the JIT does not unroll the four chunks.
            Q4_KChunk2x1(p0, p1, q, 0, scales0, scales1, ref sum0, ref sum1);
            Q4_KChunk2x1(p0, p1, q, 1, scales0, scales1, ref sum0, ref sum1);
            Q4_KChunk2x1(p0, p1, q, 2, scales0, scales1, ref sum0, ref sum1);
            Q4_KChunk2x1(p0, p1, q, 3, scales0, scales1, ref sum0, ref sum1);
            float da = Q8_KFormat.Scale(a);
            acc0 = Fma.MultiplyAdd(Vector256.Create(da * Q4_KFormat.Half(w)), Avx.ConvertToVector256Single(sum0), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Create(da * Q4_KFormat.Half(w1)), Avx.ConvertToVector256Single(sum1), acc1);
            w += Q4_KFormat.BlockBytes;
            w1 += Q4_KFormat.BlockBytes;
            a += Q8_KFormat.BlockBytes;
        }
        y[0] = Q4_KFinish(acc0, accMin.GetLower());
        y[1] = Q4_KFinish(acc1, accMin.GetUpper());
    }

    // ---------------------------------------------------------------------------------------------- Q6_K

    /// <summary>
    /// One block's step of a token in the four-token kernels of Q3_K and Q6_K, as their single dots take it:
    /// acc + (d_a * d_w) x lanes, d_a read from the Q8_K block whose quants start at <paramref name="quants"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> ScaleBlock(Vector256<float> acc, Vector256<int> lanes, sbyte* quants, float dw) =>
        Fma.MultiplyAdd(Vector256.Create(Q8_KFormat.Scale((byte*)quants - Q8_KFormat.QuantsOffset) * dw),
            Avx.ConvertToVector256Single(lanes), acc);

    /// <summary>
    /// The 32 unsigned six-bit quants (0..63) of group k of one Q6_K half-block: the low nibbles (k = 0, 1) or high
    /// nibbles (k = 2, 3) of <paramref name="bits1"/> (ql) / <paramref name="bits2"/> (ql + 32), with bits 2k, 2k + 1
    /// of <paramref name="highBits"/> (qh) moved to bits 4-5. Each shift works on 16-bit words, and the mask keeps
    /// only bits that came from the same byte: two operations for the high bits (one for k = 2) where a shift down,
    /// a mask and a shift up took three.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Q6_KUnsigned(Vector256<byte> bits1, Vector256<byte> bits2, Vector256<byte> highBits, int k)
    {
        Vector256<byte> lowMask = Vector256.Create((byte)0x0F);
        Vector256<byte> highMask = Vector256.Create((byte)0x30);
        Vector256<byte> nibbles = k switch
        {
            0 => bits1 & lowMask,
            1 => bits2 & lowMask,
            2 => (bits1.AsUInt16() >> 4).AsByte() & lowMask,
            _ => (bits2.AsUInt16() >> 4).AsByte() & lowMask,
        };
        Vector256<byte> high = k switch
        {
            0 => (highBits.AsUInt16() << 4).AsByte() & highMask,
            1 => (highBits.AsUInt16() << 2).AsByte() & highMask,
            2 => highBits & highMask,
            _ => (highBits.AsUInt16() >> 2).AsByte() & highMask,
        };
        return nibbles | high;
    }

    /// <summary>
    /// One Q6_K block's 16 scales as int16 lanes arranged for <see cref="Q6_KPairScaleControl"/>: the low 128-bit
    /// lane holds scales 0, 2, .., 14 and the high lane scales 1, 3, .., 15, so group g's scales (2g for elements
    /// 0-15, 2g + 1 for 16-31) are word g of each lane, one pshufb away.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<short> Q6_KWideScales(byte* scales) =>
        Avx2.ConvertToVector256Int16(Ssse3.Shuffle(Vector128.Load(scales),
            Vector128.Create((byte)0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15)).AsSByte());

    /// <summary>pshufb control that broadcasts word 0 of each lane of <see cref="Q6_KWideScales"/>; + 2g selects word g.</summary>
    private static Vector256<byte> Q6_KPairScaleControl() => Vector256.Create((ushort)0x0100).AsByte();

    /// <summary>
    /// Exact int32 lanes of one group: scales x pair sums of (q - 32) * a, as pmaddubsw(|w|, sign(a, w)) then
    /// pmaddwd (equal to the single dot's pmaddubsw(q, a) - pmaddubsw(32, a) for activations in [-127, 127]).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Q6_KLanes(Vector256<byte> absoluteW, Vector256<sbyte> w, Vector256<short> scales, sbyte* a) =>
        Avx2.MultiplyAddAdjacent(scales, Avx2.MultiplyAddAdjacent(absoluteW, Avx2.Sign(Vector256.Load(a), w)));

    /// <summary>
    /// Group k (32 elements) of one Q6_K half-block (its three 32-byte loads given) against four tokens' quants
    /// (already at the half): the weights made signed (q - 32) once for the four tokens.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q6_KGroup1x4(Vector256<byte> bits1, Vector256<byte> bits2, Vector256<byte> highBits, int k,
        Vector256<short> wideScales, ref Vector256<byte> control, sbyte* q0, sbyte* q1, sbyte* q2, sbyte* q3,
        ref Vector256<int> sum0, ref Vector256<int> sum1, ref Vector256<int> sum2, ref Vector256<int> sum3)
    {
        Vector256<sbyte> wq = Avx2.Subtract(Q6_KUnsigned(bits1, bits2, highBits, k).AsSByte(), Vector256.Create((sbyte)32));
        Vector256<byte> absoluteW = Avx2.Abs(wq);
        Vector256<short> scales = Avx2.Shuffle(wideScales.AsByte(), control).AsInt16();
        control = Avx2.Add(control, Vector256.Create((byte)2));
        int offset = 32 * k;
        sum0 = Avx2.Add(sum0, Q6_KLanes(absoluteW, wq, scales, q0 + offset));
        sum1 = Avx2.Add(sum1, Q6_KLanes(absoluteW, wq, scales, q1 + offset));
        sum2 = Avx2.Add(sum2, Q6_KLanes(absoluteW, wq, scales, q2 + offset));
        sum3 = Avx2.Add(sum3, Q6_KLanes(absoluteW, wq, scales, q3 + offset));
    }

    /// <summary>
    /// One Q6_K weight row against four Q8_K activation rows (stride <paramref name="aStride"/> bytes);
    /// results to y[0], y[yStride], y[2 * yStride], y[3 * yStride].
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Q6_KDot1x4(byte* w, byte* a, long aStride, int blocks, float* y, long yStride)
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        Vector256<byte> controlBase = Q6_KPairScaleControl();
        sbyte* q0 = (sbyte*)(a + Q8_KFormat.QuantsOffset), q1 = (sbyte*)(a + aStride + Q8_KFormat.QuantsOffset);
        sbyte* q2 = (sbyte*)(a + 2 * aStride + Q8_KFormat.QuantsOffset);
        sbyte* q3 = (sbyte*)(a + 3 * aStride + Q8_KFormat.QuantsOffset);
        for (int b = 0; b < blocks; b++)
        {
            Prefetch.Block(w, Q6_KFormat.BlockBytes);
            Vector256<short> wideScales = Q6_KWideScales(w + Q6_KFormat.ScalesOffset);
            Vector256<int> sum0 = Vector256<int>.Zero, sum1 = Vector256<int>.Zero;
            Vector256<int> sum2 = Vector256<int>.Zero, sum3 = Vector256<int>.Zero;
            Vector256<byte> control = controlBase;
            for (int half = 0; half < 2; half++)
            {
                byte* ql = w + 64 * half;
                Vector256<byte> bits1 = Vector256.Load(ql), bits2 = Vector256.Load(ql + 32);
                Vector256<byte> highBits = Vector256.Load(w + Q6_KFormat.HighBitsOffset + 32 * half);
                // Unrolled by hand: constant k folds the nibble / high-bit selection of each group.
                int offset = 128 * half;
                Q6_KGroup1x4(bits1, bits2, highBits, 0, wideScales, ref control, q0 + offset, q1 + offset, q2 + offset, q3 + offset,
                    ref sum0, ref sum1, ref sum2, ref sum3);
                Q6_KGroup1x4(bits1, bits2, highBits, 1, wideScales, ref control, q0 + offset, q1 + offset, q2 + offset, q3 + offset,
                    ref sum0, ref sum1, ref sum2, ref sum3);
                Q6_KGroup1x4(bits1, bits2, highBits, 2, wideScales, ref control, q0 + offset, q1 + offset, q2 + offset, q3 + offset,
                    ref sum0, ref sum1, ref sum2, ref sum3);
                Q6_KGroup1x4(bits1, bits2, highBits, 3, wideScales, ref control, q0 + offset, q1 + offset, q2 + offset, q3 + offset,
                    ref sum0, ref sum1, ref sum2, ref sum3);
            }
            float dw = Q4_KFormat.Half(w + Q6_KFormat.ScaleOffset);
            acc0 = ScaleBlock(acc0, sum0, q0, dw);
            acc1 = ScaleBlock(acc1, sum1, q1, dw);
            acc2 = ScaleBlock(acc2, sum2, q2, dw);
            acc3 = ScaleBlock(acc3, sum3, q3, dw);
            w += Q6_KFormat.BlockBytes;
            q0 += Q8_KFormat.BlockBytes;
            q1 += Q8_KFormat.BlockBytes;
            q2 += Q8_KFormat.BlockBytes;
            q3 += Q8_KFormat.BlockBytes;
        }
        y[0] = Int8Dot.HorizontalSum(acc0);
        y[yStride] = Int8Dot.HorizontalSum(acc1);
        y[2 * yStride] = Int8Dot.HorizontalSum(acc2);
        y[3 * yStride] = Int8Dot.HorizontalSum(acc3);
    }

    /// <summary>
    /// Group k of two rows' Q6_K half-blocks against one token's quants (already at the half), as the single dot
    /// computes it: pmaddubsw(q, a) - pmaddubsw(32, a), the second shared by both rows, then pmaddwd with the scales.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q6_KGroup2x1(Vector256<byte> bits1Row0, Vector256<byte> bits2Row0, Vector256<byte> highRow0,
        Vector256<byte> bits1Row1, Vector256<byte> bits2Row1, Vector256<byte> highRow1, int k,
        Vector256<short> scales0, Vector256<short> scales1, ref Vector256<byte> control, sbyte* a,
        ref Vector256<int> sum0, ref Vector256<int> sum1)
    {
        Vector256<sbyte> activation = Vector256.Load(a + 32 * k);
        Vector256<short> offsets = Avx2.MultiplyAddAdjacent(Vector256.Create((byte)32), activation);
        Vector256<short> products0 = Avx2.Subtract(
            Avx2.MultiplyAddAdjacent(Q6_KUnsigned(bits1Row0, bits2Row0, highRow0, k), activation), offsets);
        Vector256<short> products1 = Avx2.Subtract(
            Avx2.MultiplyAddAdjacent(Q6_KUnsigned(bits1Row1, bits2Row1, highRow1, k), activation), offsets);
        sum0 = Avx2.Add(sum0, Avx2.MultiplyAddAdjacent(Avx2.Shuffle(scales0.AsByte(), control).AsInt16(), products0));
        sum1 = Avx2.Add(sum1, Avx2.MultiplyAddAdjacent(Avx2.Shuffle(scales1.AsByte(), control).AsInt16(), products1));
        control = Avx2.Add(control, Vector256.Create((byte)2));
    }

    /// <summary>
    /// Two Q6_K weight rows (the second <paramref name="rowBytes"/> bytes after the first) against one Q8_K
    /// activation row; results to y[0] and y[1]. Exactly the int16 pair sums, int32 lanes and float order of
    /// <see cref="Q6_KFormat.DotVector256"/>, in fewer operations than the signed form of the prompt kernel: the
    /// activation's offset term is computed once for both rows, and each group's scales take one shuffle.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Q6_KDot2x1(byte* w, long rowBytes, byte* a, int blocks, float* y)
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<byte> controlBase = Q6_KPairScaleControl();
        byte* w1 = w + rowBytes;
        for (int b = 0; b < blocks; b++)
        {
            Prefetch.Block(w, Q6_KFormat.BlockBytes);
            Prefetch.Block(w1, Q6_KFormat.BlockBytes);
            Vector256<short> scales0 = Q6_KWideScales(w + Q6_KFormat.ScalesOffset);
            Vector256<short> scales1 = Q6_KWideScales(w1 + Q6_KFormat.ScalesOffset);
            sbyte* q = (sbyte*)(a + Q8_KFormat.QuantsOffset);
            Vector256<int> sum0 = Vector256<int>.Zero, sum1 = Vector256<int>.Zero;
            Vector256<byte> control = controlBase;
            for (int half = 0; half < 2; half++)
            {
                byte* ql0 = w + 64 * half, qh0 = w + Q6_KFormat.HighBitsOffset + 32 * half;
                byte* ql1 = w1 + 64 * half, qh1 = w1 + Q6_KFormat.HighBitsOffset + 32 * half;
                Vector256<byte> bits1Row0 = Vector256.Load(ql0), bits2Row0 = Vector256.Load(ql0 + 32), highRow0 = Vector256.Load(qh0);
                Vector256<byte> bits1Row1 = Vector256.Load(ql1), bits2Row1 = Vector256.Load(ql1 + 32), highRow1 = Vector256.Load(qh1);
                sbyte* activation = q + 128 * half;
                // Unrolled by hand: constant k folds the nibble / high-bit selection of each group.
                Q6_KGroup2x1(bits1Row0, bits2Row0, highRow0, bits1Row1, bits2Row1, highRow1, 0, scales0, scales1, ref control,
                    activation, ref sum0, ref sum1);
                Q6_KGroup2x1(bits1Row0, bits2Row0, highRow0, bits1Row1, bits2Row1, highRow1, 1, scales0, scales1, ref control,
                    activation, ref sum0, ref sum1);
                Q6_KGroup2x1(bits1Row0, bits2Row0, highRow0, bits1Row1, bits2Row1, highRow1, 2, scales0, scales1, ref control,
                    activation, ref sum0, ref sum1);
                Q6_KGroup2x1(bits1Row0, bits2Row0, highRow0, bits1Row1, bits2Row1, highRow1, 3, scales0, scales1, ref control,
                    activation, ref sum0, ref sum1);
            }
            float da = Q8_KFormat.Scale(a);
            acc0 = Fma.MultiplyAdd(Vector256.Create(da * Q4_KFormat.Half(w + Q6_KFormat.ScaleOffset)),
                Avx.ConvertToVector256Single(sum0), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Create(da * Q4_KFormat.Half(w1 + Q6_KFormat.ScaleOffset)),
                Avx.ConvertToVector256Single(sum1), acc1);
            w += Q6_KFormat.BlockBytes;
            w1 += Q6_KFormat.BlockBytes;
            a += Q8_KFormat.BlockBytes;
        }
        y[0] = Int8Dot.HorizontalSum(acc0);
        y[1] = Int8Dot.HorizontalSum(acc1);
    }
}
