using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// GGML_TYPE_Q4_K: super-blocks of 256 elements, each
/// <c>{ half d; half dmin; uint8 scales[12]; uint8 qs[128]; }</c> = 144 bytes. The block is 8 sub-blocks of 32;
/// sub-block s has a 6-bit scale sc[s] and 6-bit minimum m[s] packed into <c>scales</c> (see
/// <see cref="ScaleAndMin"/>), and value = d * sc[s] * q - dmin * m[s] with q a 4-bit quant. Within each 64-element
/// chunk, the first 32 elements are the low nibbles of 32 bytes of qs and the next 32 their high nibbles.
/// Its activation partner is Q8_K.
/// </summary>
public static unsafe class Q4_KFormat
{
    /// <summary>Elements per super-block (QK_K).</summary>
    public const int BlockSize = 256;

    /// <summary>Bytes per block: fp16 d + fp16 dmin + 12 bytes of scales/mins + 128 bytes of nibbles.</summary>
    public const int BlockBytes = 2 + 2 + ScalesBytes + BlockSize / 2;

    /// <summary>Bytes of packed 6-bit scales and mins (K_SCALE_SIZE).</summary>
    public const int ScalesBytes = 12;

    /// <summary>Byte offset of the packed scales (after d and dmin).</summary>
    public const int ScalesOffset = 4;

    /// <summary>Byte offset of the nibbles (after the scales).</summary>
    public const int QuantsOffset = ScalesOffset + ScalesBytes;

    /// <summary>
    /// Quantizes a row. Per 32-element sub-block a scale and a minimum are fitted by
    /// <see cref="KQuantFit.SearchScaleAndMin"/> (the range fit and candidates around it, least squares); the 8
    /// scales and 8 minimums are then quantized to 6 bits against the block's largest ones (d = max scale / 63,
    /// dmin = max min / 63, both fp16), and each element is quantized to the nearest level of its sub-block's
    /// quantized scale/min, as ggml does in its last step. llama-quantize's make_qkx2_quants search weights the
    /// error by |x|; this one minimises the plain squared error, so blocks differ from llama-quantize's (their
    /// squared error is slightly lower).
    /// </summary>
    public static void QuantizeRow(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = RowArguments.BlockCount(source.Length, BlockSize, "Q4_K", nameof(source));
        RowArguments.RequireBytes(destination.Length, (long)blocks * BlockBytes, "Q4_K", nameof(destination));
        Span<byte> levels = stackalloc byte[BlockSize];
        Span<byte> scaleLevels = stackalloc byte[8];
        Span<byte> minLevels = stackalloc byte[8];
        fixed (float* src = source)
        fixed (byte* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                float* x = src + b * BlockSize;
                byte* block = dst + b * BlockBytes;
                KQuantFit.QuantizeAsymmetric(x, block, levels, scaleLevels, minLevels, maxLevel: 15);
                PackScales(scaleLevels, minLevels, block + ScalesOffset);
                byte* q = block + QuantsOffset;
                for (int chunk = 0; chunk < BlockSize; chunk += 64)
                {
                    for (int l = 0; l < 32; l++)
                    {
                        q[l] = (byte)(levels[chunk + l] | (levels[chunk + l + 32] << 4));
                    }
                    q += 32;
                }
            }
        }
    }

    /// <summary>ggml's dequantize_row_q4_K: y = d * sc * q - dmin * m per 32-element sub-block.</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = RowArguments.BlockCount(destination.Length, BlockSize, "Q4_K", nameof(destination));
        RowArguments.RequireBytes(source.Length, (long)blocks * BlockBytes, "Q4_K", nameof(source));
        fixed (byte* src = source)
        fixed (float* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                byte* block = src + b * BlockBytes;
                float d = Half(block);
                float min = Half(block + 2);
                byte* scales = block + ScalesOffset;
                byte* q = block + QuantsOffset;
                float* y = dst + b * BlockSize;
                for (int chunk = 0, s = 0; chunk < BlockSize; chunk += 64, s += 2)
                {
                    ScaleAndMin(s, scales, out int sc, out int m);
                    float d1 = d * sc, m1 = min * m;
                    ScaleAndMin(s + 1, scales, out sc, out m);
                    float d2 = d * sc, m2 = min * m;
                    for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0x0F) - m1;
                    for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
                    q += 32;
                }
            }
        }
    }

    /// <summary>Dot product of a Q4_K weight row with a Q8_K activation row at <see cref="SimdCapabilities.BestForInt8"/>.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns) =>
        Dot(weights, activations, columns, SimdCapabilities.BestForInt8);

    /// <summary>Dot product at a chosen <paramref name="level"/>; <paramref name="activations"/> is a Q8_K row.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns, SimdLevel level)
    {
        return RowArguments.Dot(weights, activations, columns, BlockSize, "Q4_K", BlockBytes, "Q8_K", Q8_KFormat.BlockBytes, DotKernel(level));
    }

    /// <summary>
    /// The row kernel for <paramref name="level"/>. K-quants have a scalar reference and an AVX2 kernel (ggml's
    /// x86 order); Vector512 runs the AVX2 kernel like ggml's AVX-512 builds do, Vector128 the scalar one.
    /// </summary>
    internal static delegate*<byte*, byte*, int, float> DotKernel(SimdLevel level)
    {
        SimdCapabilities.Require(level);
        return KQuantFit.UsesAvx2(level) ? &DotVector256 : &DotScalar;
    }

    /// <summary>
    /// Reference (ggml_vec_dot_q4_K_q8_K generic): 8 int32 lanes (element j into lane j % 8) of sc * q * a,
    /// scaled by d_w * d_a into 8 float sums per block; the minimums come in through the Q8_K group sums.
    /// </summary>
    internal static float DotScalar(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        float* sums = stackalloc float[8];
        int* lanes = stackalloc int[8];
        for (int l = 0; l < 8; l++) sums[l] = 0f;
        float total = 0f;
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            byte* ab = activations + b * Q8_KFormat.BlockBytes;
            byte* q = wb + QuantsOffset;
            sbyte* a = (sbyte*)(ab + Q8_KFormat.QuantsOffset);
            short* groupSums = (short*)(ab + Q8_KFormat.SumsOffset);
            for (int l = 0; l < 8; l++) lanes[l] = 0;
            int minSum = 0;
            for (int s = 0; s < 8; s++)
            {
                ScaleAndMin(s, wb + ScalesOffset, out int sc, out int m);
                minSum += (groupSums[2 * s] + groupSums[2 * s + 1]) * m;
                int shift = (s & 1) * 4;
                byte* nibbles = q + (s >> 1) * 32;
                for (int l = 0; l < 32; l++)
                {
                    lanes[l & 7] += sc * (((nibbles[l] >> shift) & 0x0F) * a[s * 32 + l]);
                }
            }
            float d = Half(wb) * Q8_KFormat.Scale(ab);
            for (int l = 0; l < 8; l++) sums[l] += d * lanes[l];
            float dmin = Half(wb + 2) * Q8_KFormat.Scale(ab);
            total -= dmin * minSum;
        }
        for (int l = 0; l < 8; l++) total += sums[l];
        return total;
    }

    /// <summary>
    /// AVX2, the same instruction sequence and float order as ggml's x86 ggml_vec_dot_q4_K_q8_K: pmaddubsw of
    /// nibbles and quants, pmaddwd with the broadcast scale, one fma per block into 8 lanes; the minimum terms
    /// (mins x pair sums of bsums) go into a separate 4-lane accumulator added at the end.
    /// </summary>
    internal static float DotVector256(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        Vector256<float> acc = Vector256<float>.Zero;
        Vector128<float> accMin = Vector128<float>.Zero;
        Vector256<byte> lowMask = Vector256.Create((byte)0x0F);
        short* scaleValues = stackalloc short[8];
        short* minValues = stackalloc short[8];
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            Prefetch.Block(wb, 144);
            byte* ab = activations + b * Q8_KFormat.BlockBytes;
            float activationScale = Q8_KFormat.Scale(ab);
            float d = activationScale * Half(wb);
            float dmin = -activationScale * Half(wb + 2);
            for (int s = 0; s < 8; s++)
            {
                ScaleAndMin(s, wb + ScalesOffset, out int sc, out int m);
                scaleValues[s] = (short)sc;
                minValues[s] = (short)m;
            }
            Vector256<short> groupSums = Vector256.Load((short*)(ab + Q8_KFormat.SumsOffset));
            Vector128<short> pairSums = Ssse3.HorizontalAdd(groupSums.GetLower(), groupSums.GetUpper());
            Vector128<int> minProducts = Sse2.MultiplyAddAdjacent(Vector128.Load(minValues), pairSums);
            accMin = Fma.MultiplyAdd(Vector128.Create(dmin), Sse2.ConvertToVector128Single(minProducts), accMin);

            byte* q = wb + QuantsOffset;
            sbyte* a = (sbyte*)(ab + Q8_KFormat.QuantsOffset);
            Vector256<int> sum = Vector256<int>.Zero;
            for (int chunk = 0; chunk < 4; chunk++)
            {
                Vector256<short> scaleLow = Vector256.Create(scaleValues[2 * chunk]);
                Vector256<short> scaleHigh = Vector256.Create(scaleValues[2 * chunk + 1]);
                Vector256<byte> bits = Vector256.Load(q);
                q += 32;
                Vector256<byte> low = bits & lowMask;
                Vector256<byte> high = (bits.AsUInt16() >> 4).AsByte() & lowMask;
                Vector256<short> productsLow = Avx2.MultiplyAddAdjacent(low, Vector256.Load(a));
                a += 32;
                Vector256<short> productsHigh = Avx2.MultiplyAddAdjacent(high, Vector256.Load(a));
                a += 32;
                Vector256<int> low32 = Avx2.MultiplyAddAdjacent(scaleLow, productsLow);
                Vector256<int> high32 = Avx2.MultiplyAddAdjacent(scaleHigh, productsHigh);
                sum = Avx2.Add(sum, Avx2.Add(low32, high32));
            }
            acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sum), acc);
        }
        // ggml: acc_m += movehl(acc_m); acc_m = add_ss(acc_m, movehdup(acc_m)).
        float minTotal = (accMin.GetElement(0) + accMin.GetElement(2)) + (accMin.GetElement(1) + accMin.GetElement(3));
        return Int8Dot.HorizontalSum(acc) + minTotal;
    }

    /// <summary>
    /// ggml's get_scale_min_k4: sub-blocks 0-3 keep their 6-bit scale/min in the low bits of bytes j / j + 4;
    /// sub-blocks 4-7 take 4 low bits from byte j + 4 (scale low nibble, min high nibble) and their top 2 bits
    /// from the spare top bits of bytes j - 4 (scale) and j (min).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void ScaleAndMin(int j, byte* scales, out int scale, out int min)
    {
        if (j < 4)
        {
            scale = scales[j] & 63;
            min = scales[j + 4] & 63;
        }
        else
        {
            scale = (scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4);
            min = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
        }
    }

    /// <summary>Packs 8 six-bit scales and mins into 12 bytes, the inverse of <see cref="ScaleAndMin"/>.</summary>
    internal static void PackScales(ReadOnlySpan<byte> scaleLevels, ReadOnlySpan<byte> minLevels, byte* scales)
    {
        for (int j = 0; j < 8; j++)
        {
            int ls = scaleLevels[j], lm = minLevels[j];
            if (j < 4)
            {
                scales[j] = (byte)ls;
                scales[j + 4] = (byte)lm;
            }
            else
            {
                scales[j + 4] = (byte)((ls & 0x0F) | ((lm & 0x0F) << 4));
                scales[j - 4] |= (byte)((ls >> 4) << 6);
                scales[j] |= (byte)((lm >> 4) << 6);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Half(byte* at) => F16Format.ToSingle(Unsafe.ReadUnaligned<ushort>(at));
}
