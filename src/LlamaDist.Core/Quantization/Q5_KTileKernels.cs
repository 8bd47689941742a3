using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// AVX2 matrix kernels for Q5_K weights against Q8_K activations, run by <see cref="KQuantTileKernels.Rows"/>. For
/// every (weight row, token) pair they give exactly the value of <see cref="Q5_KFormat.DotVector256"/>: the same
/// exact int32 lanes (scale x pmaddubsw(5-bit quants, a) through pmaddwd), the same <c>fma(d_a * d_w, lanes, acc)</c>
/// per block, the same integer minimum sum per block (int16 pair sums of the bsums, as phaddw wraps them) added to
/// a scalar float as <c>(-d_a * dmin_w) * sum</c>, and the same ending <c>hsum(acc) + minimums</c>.
/// What changes is the work around the products (the single dot unpacked the scales with about seventy scalar
/// operations per block, which bound it at about 5 GB/s of weights per thread):
/// <list type="bullet">
/// <item>Scales and minimums of two blocks are unpacked in vector registers at once (Q5_K packs them as Q4_K does,
/// at the same offset), and each group's scale is one shuffle.</item>
/// <item>A quant's fifth bit reaches bit 4 in one shift and one mask.</item>
/// <item>Decode (<see cref="Q5_KDot2x1"/>): two weight rows (far apart, see <see cref="DecodeRowPairs"/>) share
/// each activation load and the token's pair sums. Prompts (<see cref="Q5_KDot1x4"/>): one weight row's block is
/// unpacked once for four tokens.</item>
/// </list>
/// Shapes: rows of <c>blocks</c> super-blocks of 176 bytes (d, dmin, 12 bytes of scales, 32 of fifth bits, 128
/// of nibbles) per 256 columns; activations are Q8_K rows (292 bytes per 256 columns), <c>aStride</c> bytes apart.
/// </summary>
internal static unsafe class Q5_KTileKernels
{
    /// <summary>
    /// Bit <paramref name="bit"/> (0-7) of every byte of <paramref name="highBits"/> moved to bit 4 (the fifth bit
    /// of a quant), other bits clear. The shifts work on 16-bit words; bit 4 of each byte only ever receives a bit
    /// of the same byte.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> FifthBit(Vector256<byte> highBits, int bit)
    {
        Vector256<byte> mask = Vector256.Create((byte)0x10);
        return bit switch
        {
            < 4 => (highBits.AsUInt16() << (4 - bit)).AsByte() & mask,
            4 => highBits & mask,
            _ => (highBits.AsUInt16() >> (bit - 4)).AsByte() & mask,
        };
    }

    /// <summary>
    /// The integer minimum sums of two (weight block, activation block) pairs: lanes 0-3 of
    /// <paramref name="minimums"/> against <paramref name="a0"/>'s bsum pairs and lanes 4-7 against
    /// <paramref name="a1"/>'s, as the single dot's pmaddwd after phaddw, each summed over its four products.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MinimumSums(Vector256<short> minimums, byte* a0, byte* a1, out int sum0, out int sum1)
    {
        Vector256<short> sums0 = Vector256.Load((short*)(a0 + Q8_KFormat.SumsOffset));
        Vector256<short> sums1 = Vector256.Load((short*)(a1 + Q8_KFormat.SumsOffset));
        // Per 128-bit lane: [pairs of a0's sums | pairs of a1's sums]; the low half becomes a0's eight pairs in
        // order and the high half a1's.
        Vector256<short> pairs = Avx2.Permute4x64(Avx2.HorizontalAdd(sums0, sums1).AsInt64(), 0b11_01_10_00).AsInt16();
        Vector256<int> products = Avx2.MultiplyAddAdjacent(minimums, pairs);
        products = Avx2.HorizontalAdd(products, products);
        products = Avx2.HorizontalAdd(products, products);
        sum0 = products.GetElement(0);
        sum1 = products.GetElement(4);
    }

    /// <summary>
    /// Chunk <paramref name="chunk"/> (64 elements: sub-blocks 2 chunk and 2 chunk + 1) of one row's Q5_K block as
    /// its two groups of 5-bit quants.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Quants(byte* nibbles, Vector256<byte> highBits, int chunk, out Vector256<byte> low, out Vector256<byte> high)
    {
        Vector256<byte> lowMask = Vector256.Create((byte)0x0F);
        Vector256<byte> bits = Vector256.Load(nibbles + 32 * chunk);
        low = (bits & lowMask) | FifthBit(highBits, 2 * chunk);
        high = ((bits.AsUInt16() >> 4).AsByte() & lowMask) | FifthBit(highBits, 2 * chunk + 1);
    }

    /// <summary>Exact int32 lanes of one chunk against one token: scaleLow x (low . a[0..31]) + scaleHigh x (high . a[32..63]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Chunk(Vector256<byte> low, Vector256<byte> high, Vector256<short> scaleLow,
        Vector256<short> scaleHigh, Vector256<sbyte> activationLow, Vector256<sbyte> activationHigh) =>
        Avx2.Add(Avx2.MultiplyAddAdjacent(scaleLow, Avx2.MultiplyAddAdjacent(low, activationLow)),
            Avx2.MultiplyAddAdjacent(scaleHigh, Avx2.MultiplyAddAdjacent(high, activationHigh)));

    /// <summary>Chunk <paramref name="chunk"/> of two rows' blocks against one token's quants <paramref name="q"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Chunk2x1(byte* nibbles0, byte* nibbles1, Vector256<byte> highBits0, Vector256<byte> highBits1,
        sbyte* q, int chunk, Vector256<byte> scales0, Vector256<byte> scales1, ref Vector256<int> sum0, ref Vector256<int> sum1)
    {
        // pshufb controls spreading scale 2 chunk / 2 chunk + 1 (bytes of a row's scales) as int16 to every lane.
        Vector256<byte> lowScale = Vector256.Create((ushort)(0x8000 | (2 * chunk))).AsByte();
        Vector256<byte> highScale = Vector256.Create((ushort)(0x8000 | (2 * chunk + 1))).AsByte();
        Vector256<sbyte> activationLow = Vector256.Load(q + 64 * chunk);
        Vector256<sbyte> activationHigh = Vector256.Load(q + 64 * chunk + 32);
        Quants(nibbles0, highBits0, chunk, out Vector256<byte> low0, out Vector256<byte> high0);
        Quants(nibbles1, highBits1, chunk, out Vector256<byte> low1, out Vector256<byte> high1);
        sum0 = Avx2.Add(sum0, Chunk(low0, high0, Avx2.Shuffle(scales0, lowScale).AsInt16(), Avx2.Shuffle(scales0, highScale).AsInt16(),
            activationLow, activationHigh));
        sum1 = Avx2.Add(sum1, Chunk(low1, high1, Avx2.Shuffle(scales1, lowScale).AsInt16(), Avx2.Shuffle(scales1, highScale).AsInt16(),
            activationLow, activationHigh));
    }

    /// <summary>
    /// Two Q5_K weight rows (the second <paramref name="rowBytes"/> bytes after the first) against one Q8_K
    /// activation row; results to y[0] and y[1].
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Q5_KDot2x1(byte* w, long rowBytes, byte* a, int blocks, float* y)
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        float minimums0 = 0f, minimums1 = 0f;
        Vector256<byte> minimumsControl = KQuantTileKernels.Q4_KMinimumsControl();
        byte* w1 = w + rowBytes;
        for (int b = 0; b < blocks; b++)
        {
            Prefetch.Block(w, Q5_KFormat.BlockBytes);
            Prefetch.Block(w1, Q5_KFormat.BlockBytes);
            float da = Q8_KFormat.Scale(a);
            Vector256<byte> unpacked = KQuantTileKernels.Q4_KScales2x1(w, w1);
            MinimumSums(Avx2.Shuffle(unpacked, minimumsControl).AsInt16(), a, a, out int minimumSum0, out int minimumSum1);
            float dmin0 = -da * Q4_KFormat.Half(w + 2), dmin1 = -da * Q4_KFormat.Half(w1 + 2);
            minimums0 += dmin0 * minimumSum0;
            minimums1 += dmin1 * minimumSum1;
            Vector256<byte> scales0 = Avx2.Permute4x64(unpacked.AsUInt64(), 0b01_00_01_00).AsByte();
            Vector256<byte> scales1 = Avx2.Permute4x64(unpacked.AsUInt64(), 0b11_10_11_10).AsByte();

            Vector256<byte> highBits0 = Vector256.Load(w + Q5_KFormat.HighBitsOffset);
            Vector256<byte> highBits1 = Vector256.Load(w1 + Q5_KFormat.HighBitsOffset);
            byte* nibbles0 = w + Q5_KFormat.QuantsOffset, nibbles1 = w1 + Q5_KFormat.QuantsOffset;
            sbyte* q = (sbyte*)(a + Q8_KFormat.QuantsOffset);
            Vector256<int> sum0 = Vector256<int>.Zero, sum1 = Vector256<int>.Zero;
            // Unrolled by hand (constant offsets, shifts and pshufb controls): the JIT does not unroll the chunks.
            Chunk2x1(nibbles0, nibbles1, highBits0, highBits1, q, 0, scales0, scales1, ref sum0, ref sum1);
            Chunk2x1(nibbles0, nibbles1, highBits0, highBits1, q, 1, scales0, scales1, ref sum0, ref sum1);
            Chunk2x1(nibbles0, nibbles1, highBits0, highBits1, q, 2, scales0, scales1, ref sum0, ref sum1);
            Chunk2x1(nibbles0, nibbles1, highBits0, highBits1, q, 3, scales0, scales1, ref sum0, ref sum1);
            acc0 = Fma.MultiplyAdd(Vector256.Create(da * Q4_KFormat.Half(w)), Avx.ConvertToVector256Single(sum0), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Create(da * Q4_KFormat.Half(w1)), Avx.ConvertToVector256Single(sum1), acc1);
            w += Q5_KFormat.BlockBytes;
            w1 += Q5_KFormat.BlockBytes;
            a += Q8_KFormat.BlockBytes;
        }
        y[0] = Int8Dot.HorizontalSum(acc0) + minimums0;
        y[1] = Int8Dot.HorizontalSum(acc1) + minimums1;
    }

    /// <summary>Chunk <paramref name="chunk"/> of one row's block against four tokens' quants.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Chunk1x4(byte* nibbles, Vector256<byte> highBits, short* scaleValues, int chunk,
        sbyte* q0, sbyte* q1, sbyte* q2, sbyte* q3,
        ref Vector256<int> sum0, ref Vector256<int> sum1, ref Vector256<int> sum2, ref Vector256<int> sum3)
    {
        Vector256<short> scaleLow = Vector256.Create(scaleValues[2 * chunk]);
        Vector256<short> scaleHigh = Vector256.Create(scaleValues[2 * chunk + 1]);
        Quants(nibbles, highBits, chunk, out Vector256<byte> low, out Vector256<byte> high);
        int offset = 64 * chunk;
        sum0 = Avx2.Add(sum0, Chunk(low, high, scaleLow, scaleHigh, Vector256.Load(q0 + offset), Vector256.Load(q0 + offset + 32)));
        sum1 = Avx2.Add(sum1, Chunk(low, high, scaleLow, scaleHigh, Vector256.Load(q1 + offset), Vector256.Load(q1 + offset + 32)));
        sum2 = Avx2.Add(sum2, Chunk(low, high, scaleLow, scaleHigh, Vector256.Load(q2 + offset), Vector256.Load(q2 + offset + 32)));
        sum3 = Avx2.Add(sum3, Chunk(low, high, scaleLow, scaleHigh, Vector256.Load(q3 + offset), Vector256.Load(q3 + offset + 32)));
    }

    /// <summary>
    /// One Q5_K weight row against four Q8_K activation rows (stride <paramref name="aStride"/> bytes);
    /// results to y[0], y[yStride], y[2 * yStride], y[3 * yStride].
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Q5_KDot1x4(byte* w, byte* a, long aStride, int blocks, float* y, long yStride)
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        float minimums0 = 0f, minimums1 = 0f, minimums2 = 0f, minimums3 = 0f;
        short* scaleValues = stackalloc short[8];
        byte* a0 = a, a1 = a + aStride, a2 = a + 2 * aStride, a3 = a + 3 * aStride;
        for (int b = 0; b < blocks; b++)
        {
            Prefetch.Block(w, Q5_KFormat.BlockBytes);
            float dw = Q4_KFormat.Half(w);
            float dminw = Q4_KFormat.Half(w + 2);
            KQuantTileKernels.Q4_KScales(w + Q5_KFormat.ScalesOffset, out Vector128<short> scales, out Vector128<short> mins);
            scales.Store(scaleValues);
            Vector256<short> mins2 = Vector256.Create(mins, mins);
            MinimumSums(mins2, a0, a1, out int minimumSum0, out int minimumSum1);
            MinimumSums(mins2, a2, a3, out int minimumSum2, out int minimumSum3);
            float da0 = Q8_KFormat.Scale(a0), da1 = Q8_KFormat.Scale(a1), da2 = Q8_KFormat.Scale(a2), da3 = Q8_KFormat.Scale(a3);
            minimums0 += -da0 * dminw * minimumSum0;
            minimums1 += -da1 * dminw * minimumSum1;
            minimums2 += -da2 * dminw * minimumSum2;
            minimums3 += -da3 * dminw * minimumSum3;

            Vector256<byte> highBits = Vector256.Load(w + Q5_KFormat.HighBitsOffset);
            byte* nibbles = w + Q5_KFormat.QuantsOffset;
            sbyte* q0 = (sbyte*)(a0 + Q8_KFormat.QuantsOffset), q1 = (sbyte*)(a1 + Q8_KFormat.QuantsOffset);
            sbyte* q2 = (sbyte*)(a2 + Q8_KFormat.QuantsOffset), q3 = (sbyte*)(a3 + Q8_KFormat.QuantsOffset);
            Vector256<int> sum0 = Vector256<int>.Zero, sum1 = Vector256<int>.Zero;
            Vector256<int> sum2 = Vector256<int>.Zero, sum3 = Vector256<int>.Zero;
            // Unrolled by hand (constant offsets and shifts): the JIT does not unroll the chunks.
            Chunk1x4(nibbles, highBits, scaleValues, 0, q0, q1, q2, q3, ref sum0, ref sum1, ref sum2, ref sum3);
            Chunk1x4(nibbles, highBits, scaleValues, 1, q0, q1, q2, q3, ref sum0, ref sum1, ref sum2, ref sum3);
            Chunk1x4(nibbles, highBits, scaleValues, 2, q0, q1, q2, q3, ref sum0, ref sum1, ref sum2, ref sum3);
            Chunk1x4(nibbles, highBits, scaleValues, 3, q0, q1, q2, q3, ref sum0, ref sum1, ref sum2, ref sum3);
            acc0 = Fma.MultiplyAdd(Vector256.Create(da0 * dw), Avx.ConvertToVector256Single(sum0), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Create(da1 * dw), Avx.ConvertToVector256Single(sum1), acc1);
            acc2 = Fma.MultiplyAdd(Vector256.Create(da2 * dw), Avx.ConvertToVector256Single(sum2), acc2);
            acc3 = Fma.MultiplyAdd(Vector256.Create(da3 * dw), Avx.ConvertToVector256Single(sum3), acc3);
            w += Q5_KFormat.BlockBytes;
            a0 += Q8_KFormat.BlockBytes;
            a1 += Q8_KFormat.BlockBytes;
            a2 += Q8_KFormat.BlockBytes;
            a3 += Q8_KFormat.BlockBytes;
        }
        y[0] = Int8Dot.HorizontalSum(acc0) + minimums0;
        y[yStride] = Int8Dot.HorizontalSum(acc1) + minimums1;
        y[2 * yStride] = Int8Dot.HorizontalSum(acc2) + minimums2;
        y[3 * yStride] = Int8Dot.HorizontalSum(acc3) + minimums3;
    }
}
