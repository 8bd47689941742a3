using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// AVX2 matrix kernels for Q3_K weights against Q8_K activations, run by <see cref="KQuantTileKernels.Rows"/>. For
/// every (weight row, token) pair they give exactly the value of <see cref="Q3_KFormat.DotVector256"/>: the same
/// int16 pair sums pmaddubsw(low bits, a) - pmaddubsw(4 where the high bit is clear, a), the same int32 lanes after
/// pmaddwd with the sub-block scales, the same <c>fma(d_a * d_w, lanes, acc)</c> per block and the same ending.
/// What changes is the work around the products (the single dot rebuilt the 16 scales with sixteen scalar
/// bit extractions per block and ran at about 2.3 GB/s of weights per thread):
/// <list type="bullet">
/// <item>Scales: two rows' twelve packed bytes are unpacked together in vector registers, ordered so that each
/// 32-element group's two scales are one shuffle away.</item>
/// <item>The high-bit term reaches bit 2 in one shift and one and-not.</item>
/// <item>Decode (<see cref="Q3_KDot2x1"/>): two weight rows (far apart, see <see cref="DecodeRowPairs"/>) share
/// each activation load. Prompts (<see cref="Q3_KDot1x4"/>): one weight row's block is unpacked once for four
/// tokens.</item>
/// </list>
/// Shapes: rows of <c>blocks</c> super-blocks of 110 bytes (32 of high bits, 64 of 2-bit quants, 12 of scales,
/// d) per 256 columns; activations are Q8_K rows (292 bytes per 256 columns), <c>aStride</c> bytes apart.
/// </summary>
internal static unsafe class Q3_KTileKernels
{
    /// <summary>
    /// The 16 signed scales (stored level - 32) of two Q3_K blocks as int16, <paramref name="w0"/>'s in
    /// <paramref name="scales0"/> and <paramref name="w1"/>'s in <paramref name="scales1"/>, each with the
    /// even-numbered sub-blocks' scales in its low 128-bit lane and the odd-numbered ones' in its high lane: group
    /// G (0-7, 32 elements: sub-blocks 2G and 2G + 1) finds its two scales in word G of each lane.
    /// <para>Per block the 12 bytes read as three words a0, a1, a2 give sub-blocks 0-3, 4-7, 8-11, 12-15 as the
    /// words a0 &amp; 0x0F0F0F0F, a1 &amp; .., a0 &gt;&gt; 4 &amp; .., a1 &gt;&gt; 4 &amp; .. with bits 0-1, 2-3, 4-5,
    /// 6-7 of a2's bytes on top (<see cref="Q3_KFormat.Scale"/>). Reads the 16 bytes that end with the scales (the
    /// first four are quants, ignored).</para>
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Scales2x1(byte* w0, byte* w1, out Vector256<short> scales0, out Vector256<short> scales1)
    {
        Vector256<uint> packed = Vector256.Create(Vector128.Load((uint*)(w0 + Q3_KFormat.ScalesOffset - 4)),
            Vector128.Load((uint*)(w1 + Q3_KFormat.ScalesOffset - 4)));
        // Per half, with the words [-, a0, a1, a2]: low bits from [a0, a1, a0 >> 4, a1 >> 4], top bits from a2.
        Vector256<uint> low = Avx2.ShiftRightLogicalVariable(Avx2.Shuffle(packed, 0b10_01_10_01),
            Vector256.Create(0u, 0, 4, 4, 0, 0, 4, 4)) & Vector256.Create(0x0F0F0F0Fu);
        Vector256<uint> top = Avx2.ShiftRightLogicalVariable(Avx2.Shuffle(packed, 0b11_11_11_11),
            Vector256.Create(0u, 2, 4, 6, 0, 2, 4, 6)) & Vector256.Create(0x03030303u);
        Vector256<sbyte> levels = Avx2.Subtract((low | Avx2.ShiftLeftLogical(top, 4)).AsSByte(), Vector256.Create((sbyte)32));
        // Even sub-blocks first, then odd, within each row's half.
        levels = Avx2.Shuffle(levels, Vector256.Create((sbyte)0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
            0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15));
        scales0 = Avx2.ConvertToVector256Int16(levels.GetLower());
        scales1 = Avx2.ConvertToVector256Int16(levels.GetUpper());
    }

    /// <summary>The same for one block (the four-token kernel), in the same arrangement.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Scales(byte* w)
    {
        Vector128<uint> packed = Vector128.Load((uint*)(w + Q3_KFormat.ScalesOffset - 4));
        Vector128<uint> low = Avx2.ShiftRightLogicalVariable(Sse2.Shuffle(packed, 0b10_01_10_01),
            Vector128.Create(0u, 0, 4, 4)) & Vector128.Create(0x0F0F0F0Fu);
        Vector128<uint> top = Avx2.ShiftRightLogicalVariable(Sse2.Shuffle(packed, 0b11_11_11_11),
            Vector128.Create(0u, 2, 4, 6)) & Vector128.Create(0x03030303u);
        Vector128<sbyte> levels = Sse2.Subtract((low | Sse2.ShiftLeftLogical(top, 4)).AsSByte(), Vector128.Create((sbyte)32));
        levels = Ssse3.Shuffle(levels, Vector128.Create((sbyte)0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15));
        return Avx2.ConvertToVector256Int16(levels);
    }

    /// <summary>pshufb control that spreads word 0 of each lane of a scales vector; + 2G selects group G's.</summary>
    private static Vector256<byte> ScaleControl() => Vector256.Create((ushort)0x0100).AsByte();

    /// <summary>
    /// Group k (0-3) of a 128-element half: its 2-bit quants from <paramref name="bits"/> (the half's 32 quant
    /// bytes, bits 2k and 2k + 1), and 4 where bit <paramref name="highBit"/> of <paramref name="highBits"/> is clear,
    /// else 0. The shifts work on 16-bit words; bit 2 of a byte only ever receives a bit of the same byte.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Quants(Vector256<byte> bits, Vector256<byte> highBits, int k, int highBit,
        out Vector256<byte> low, out Vector256<byte> missing)
    {
        Vector256<byte> twoBits = Vector256.Create((byte)3);
        low = k == 0 ? bits & twoBits : (bits.AsUInt16() >> (2 * k)).AsByte() & twoBits;
        Vector256<byte> atBit2 = highBit switch
        {
            < 2 => (highBits.AsUInt16() << (2 - highBit)).AsByte(),
            2 => highBits,
            _ => (highBits.AsUInt16() >> (highBit - 2)).AsByte(),
        };
        missing = Avx2.AndNot(atBit2, Vector256.Create((byte)4));
    }

    /// <summary>Exact int32 lanes of one group against one token: scales x (pmaddubsw(low, a) - pmaddubsw(missing, a)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Group(Vector256<byte> low, Vector256<byte> missing, Vector256<short> scales, Vector256<sbyte> activation) =>
        Avx2.MultiplyAddAdjacent(scales, Avx2.Subtract(
            Avx2.MultiplyAddAdjacent(low, activation), Avx2.MultiplyAddAdjacent(missing, activation)));

    /// <summary>Group k of half <paramref name="half"/> of two rows' blocks against one token's quants <paramref name="q"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Group2x1(Vector256<byte> bits0, Vector256<byte> bits1, Vector256<byte> highBits0, Vector256<byte> highBits1,
        int half, int k, Vector256<short> scales0, Vector256<short> scales1, ref Vector256<byte> control, sbyte* q,
        ref Vector256<int> sum0, ref Vector256<int> sum1)
    {
        Vector256<sbyte> activation = Vector256.Load(q + 128 * half + 32 * k);
        Quants(bits0, highBits0, k, 4 * half + k, out Vector256<byte> low0, out Vector256<byte> missing0);
        Quants(bits1, highBits1, k, 4 * half + k, out Vector256<byte> low1, out Vector256<byte> missing1);
        sum0 = Avx2.Add(sum0, Group(low0, missing0, Avx2.Shuffle(scales0.AsByte(), control).AsInt16(), activation));
        sum1 = Avx2.Add(sum1, Group(low1, missing1, Avx2.Shuffle(scales1.AsByte(), control).AsInt16(), activation));
        control = Avx2.Add(control, Vector256.Create((byte)2));
    }

    /// <summary>
    /// Two Q3_K weight rows (the second <paramref name="rowBytes"/> bytes after the first) against one Q8_K
    /// activation row; results to y[0] and y[1].
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Q3_KDot2x1(byte* w, long rowBytes, byte* a, int blocks, float* y)
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<byte> controlBase = ScaleControl();
        byte* w1 = w + rowBytes;
        for (int b = 0; b < blocks; b++)
        {
            Prefetch.Block(w, Q3_KFormat.BlockBytes);
            Prefetch.Block(w1, Q3_KFormat.BlockBytes);
            Scales2x1(w, w1, out Vector256<short> scales0, out Vector256<short> scales1);
            Vector256<byte> highBits0 = Vector256.Load(w), highBits1 = Vector256.Load(w1);
            sbyte* q = (sbyte*)(a + Q8_KFormat.QuantsOffset);
            Vector256<int> sum0 = Vector256<int>.Zero, sum1 = Vector256<int>.Zero;
            Vector256<byte> control = controlBase;
            for (int half = 0; half < 2; half++)
            {
                Vector256<byte> bits0 = Vector256.Load(w + Q3_KFormat.QuantsOffset + 32 * half);
                Vector256<byte> bits1 = Vector256.Load(w1 + Q3_KFormat.QuantsOffset + 32 * half);
                // Unrolled by hand: constant k folds the shifts of each group (the JIT unrolls the halves).
                Group2x1(bits0, bits1, highBits0, highBits1, half, 0, scales0, scales1, ref control, q, ref sum0, ref sum1);
                Group2x1(bits0, bits1, highBits0, highBits1, half, 1, scales0, scales1, ref control, q, ref sum0, ref sum1);
                Group2x1(bits0, bits1, highBits0, highBits1, half, 2, scales0, scales1, ref control, q, ref sum0, ref sum1);
                Group2x1(bits0, bits1, highBits0, highBits1, half, 3, scales0, scales1, ref control, q, ref sum0, ref sum1);
            }
            float da = Q8_KFormat.Scale(a);
            acc0 = Fma.MultiplyAdd(Vector256.Create(da * Q4_KFormat.Half(w + Q3_KFormat.ScaleOffset)),
                Avx.ConvertToVector256Single(sum0), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Create(da * Q4_KFormat.Half(w1 + Q3_KFormat.ScaleOffset)),
                Avx.ConvertToVector256Single(sum1), acc1);
            w += Q3_KFormat.BlockBytes;
            w1 += Q3_KFormat.BlockBytes;
            a += Q8_KFormat.BlockBytes;
        }
        y[0] = Int8Dot.HorizontalSum(acc0);
        y[1] = Int8Dot.HorizontalSum(acc1);
    }

    /// <summary>Group k of half <paramref name="half"/> of one row's block against four tokens' quants.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Group1x4(Vector256<byte> bits, Vector256<byte> highBits, int half, int k, Vector256<short> scales,
        ref Vector256<byte> control, sbyte* q0, sbyte* q1, sbyte* q2, sbyte* q3,
        ref Vector256<int> sum0, ref Vector256<int> sum1, ref Vector256<int> sum2, ref Vector256<int> sum3)
    {
        Quants(bits, highBits, k, 4 * half + k, out Vector256<byte> low, out Vector256<byte> missing);
        Vector256<short> groupScales = Avx2.Shuffle(scales.AsByte(), control).AsInt16();
        control = Avx2.Add(control, Vector256.Create((byte)2));
        int offset = 128 * half + 32 * k;
        sum0 = Avx2.Add(sum0, Group(low, missing, groupScales, Vector256.Load(q0 + offset)));
        sum1 = Avx2.Add(sum1, Group(low, missing, groupScales, Vector256.Load(q1 + offset)));
        sum2 = Avx2.Add(sum2, Group(low, missing, groupScales, Vector256.Load(q2 + offset)));
        sum3 = Avx2.Add(sum3, Group(low, missing, groupScales, Vector256.Load(q3 + offset)));
    }

    /// <summary>
    /// One Q3_K weight row against four Q8_K activation rows (stride <paramref name="aStride"/> bytes);
    /// results to y[0], y[yStride], y[2 * yStride], y[3 * yStride].
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Q3_KDot1x4(byte* w, byte* a, long aStride, int blocks, float* y, long yStride)
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        Vector256<byte> controlBase = ScaleControl();
        sbyte* q0 = (sbyte*)(a + Q8_KFormat.QuantsOffset), q1 = (sbyte*)(a + aStride + Q8_KFormat.QuantsOffset);
        sbyte* q2 = (sbyte*)(a + 2 * aStride + Q8_KFormat.QuantsOffset);
        sbyte* q3 = (sbyte*)(a + 3 * aStride + Q8_KFormat.QuantsOffset);
        for (int b = 0; b < blocks; b++)
        {
            Prefetch.Block(w, Q3_KFormat.BlockBytes);
            Vector256<short> scales = Scales(w);
            Vector256<byte> highBits = Vector256.Load(w);
            Vector256<int> sum0 = Vector256<int>.Zero, sum1 = Vector256<int>.Zero;
            Vector256<int> sum2 = Vector256<int>.Zero, sum3 = Vector256<int>.Zero;
            Vector256<byte> control = controlBase;
            for (int half = 0; half < 2; half++)
            {
                Vector256<byte> bits = Vector256.Load(w + Q3_KFormat.QuantsOffset + 32 * half);
                Group1x4(bits, highBits, half, 0, scales, ref control, q0, q1, q2, q3, ref sum0, ref sum1, ref sum2, ref sum3);
                Group1x4(bits, highBits, half, 1, scales, ref control, q0, q1, q2, q3, ref sum0, ref sum1, ref sum2, ref sum3);
                Group1x4(bits, highBits, half, 2, scales, ref control, q0, q1, q2, q3, ref sum0, ref sum1, ref sum2, ref sum3);
                Group1x4(bits, highBits, half, 3, scales, ref control, q0, q1, q2, q3, ref sum0, ref sum1, ref sum2, ref sum3);
            }
            float dw = Q4_KFormat.Half(w + Q3_KFormat.ScaleOffset);
            acc0 = KQuantTileKernels.ScaleBlock(acc0, sum0, q0, dw);
            acc1 = KQuantTileKernels.ScaleBlock(acc1, sum1, q1, dw);
            acc2 = KQuantTileKernels.ScaleBlock(acc2, sum2, q2, dw);
            acc3 = KQuantTileKernels.ScaleBlock(acc3, sum3, q3, dw);
            w += Q3_KFormat.BlockBytes;
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
}
