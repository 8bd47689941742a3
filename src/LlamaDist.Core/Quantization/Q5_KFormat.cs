using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// GGML_TYPE_Q5_K: super-blocks of 256 elements, each
/// <c>{ half d; half dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128]; }</c> = 176 bytes. Like Q4_K (8
/// sub-blocks of 32 with 6-bit scales and mins packed the same way, value = d * sc[s] * q - dmin * m[s]) but with
/// 5-bit quants: the low 4 bits are nibbles laid out as in Q4_K and the fifth bit of element l of sub-block s is
/// bit s of qh[l]. Its activation partner is Q8_K.
/// </summary>
public static unsafe class Q5_KFormat
{
    /// <summary>Elements per super-block (QK_K).</summary>
    public const int BlockSize = 256;

    /// <summary>Bytes per block: fp16 d + fp16 dmin + 12 bytes of scales/mins + 32 bytes of high bits + 128 bytes of nibbles.</summary>
    public const int BlockBytes = 2 + 2 + Q4_KFormat.ScalesBytes + BlockSize / 8 + BlockSize / 2;

    /// <summary>Byte offset of the packed scales (after d and dmin).</summary>
    public const int ScalesOffset = 4;

    /// <summary>Byte offset of qh, the fifth bits (after the scales).</summary>
    public const int HighBitsOffset = ScalesOffset + Q4_KFormat.ScalesBytes;

    /// <summary>Byte offset of the nibbles (after qh).</summary>
    public const int QuantsOffset = HighBitsOffset + BlockSize / 8;

    /// <summary>
    /// Quantizes a row with the same per-sub-block scale/min search as <see cref="Q4_KFormat.QuantizeRow"/> but
    /// 31 levels: blocks differ from llama-quantize's (which weights the error by |x|), with a slightly lower
    /// squared error.
    /// </summary>
    public static void QuantizeRow(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = RowArguments.BlockCount(source.Length, BlockSize, "Q5_K", nameof(source));
        RowArguments.RequireBytes(destination.Length, (long)blocks * BlockBytes, "Q5_K", nameof(destination));
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
                new Span<byte>(block, BlockBytes).Clear();
                KQuantFit.QuantizeAsymmetric(x, block, levels, scaleLevels, minLevels, maxLevel: 31);
                Q4_KFormat.PackScales(scaleLevels, minLevels, block + ScalesOffset);
                byte* qh = block + HighBitsOffset;
                byte* ql = block + QuantsOffset;
                for (int chunk = 0, s = 0; chunk < BlockSize; chunk += 64, s += 2)
                {
                    for (int l = 0; l < 32; l++)
                    {
                        int low = levels[chunk + l], high = levels[chunk + l + 32];
                        qh[l] |= (byte)(((low >> 4) << s) | ((high >> 4) << (s + 1)));
                        ql[l] = (byte)((low & 0x0F) | ((high & 0x0F) << 4));
                    }
                    ql += 32;
                }
            }
        }
    }

    /// <summary>ggml's dequantize_row_q5_K: y = d * sc * (nibble + 16 * high bit) - dmin * m per sub-block.</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = RowArguments.BlockCount(destination.Length, BlockSize, "Q5_K", nameof(destination));
        RowArguments.RequireBytes(source.Length, (long)blocks * BlockBytes, "Q5_K", nameof(source));
        fixed (byte* src = source)
        fixed (float* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                byte* block = src + b * BlockBytes;
                float d = Q4_KFormat.Half(block);
                float min = Q4_KFormat.Half(block + 2);
                byte* scales = block + ScalesOffset;
                byte* qh = block + HighBitsOffset;
                byte* ql = block + QuantsOffset;
                float* y = dst + b * BlockSize;
                for (int chunk = 0, s = 0; chunk < BlockSize; chunk += 64, s += 2)
                {
                    Q4_KFormat.ScaleAndMin(s, scales, out int sc, out int m);
                    float d1 = d * sc, m1 = min * m;
                    Q4_KFormat.ScaleAndMin(s + 1, scales, out sc, out m);
                    float d2 = d * sc, m2 = min * m;
                    for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0x0F) + (((qh[l] >> s) & 1) << 4)) - m1;
                    for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (((qh[l] >> (s + 1)) & 1) << 4)) - m2;
                    ql += 32;
                }
            }
        }
    }

    /// <summary>Dot product of a Q5_K weight row with a Q8_K activation row at <see cref="SimdCapabilities.BestForInt8"/>.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns) =>
        Dot(weights, activations, columns, SimdCapabilities.BestForInt8);

    /// <summary>Dot product at a chosen <paramref name="level"/>; <paramref name="activations"/> is a Q8_K row.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns, SimdLevel level)
    {
        return RowArguments.Dot(weights, activations, columns, BlockSize, "Q5_K", BlockBytes, "Q8_K", Q8_KFormat.BlockBytes, DotKernel(level));
    }

    /// <summary>The row kernel for <paramref name="level"/> (AVX2 at Vector256 and up, else scalar).</summary>
    internal static delegate*<byte*, byte*, int, float> DotKernel(SimdLevel level)
    {
        SimdCapabilities.Require(level);
        return KQuantFit.UsesAvx2(level) ? &DotVector256 : &DotScalar;
    }

    /// <summary>
    /// Reference (ggml_vec_dot_q5_K_q8_K generic): 8 int32 lanes (element j into lane j % 8) of sc * q * a,
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
            byte* qh = wb + HighBitsOffset;
            sbyte* a = (sbyte*)(ab + Q8_KFormat.QuantsOffset);
            short* groupSums = (short*)(ab + Q8_KFormat.SumsOffset);
            for (int l = 0; l < 8; l++) lanes[l] = 0;
            int minSum = 0;
            for (int s = 0; s < 8; s++)
            {
                Q4_KFormat.ScaleAndMin(s, wb + ScalesOffset, out int sc, out int m);
                minSum += (groupSums[2 * s] + groupSums[2 * s + 1]) * m;
                int shift = (s & 1) * 4;
                byte* nibbles = wb + QuantsOffset + (s >> 1) * 32;
                for (int l = 0; l < 32; l++)
                {
                    int q = ((nibbles[l] >> shift) & 0x0F) | (((qh[l] >> s) & 1) << 4);
                    lanes[l & 7] += sc * (q * a[s * 32 + l]);
                }
            }
            float d = Q4_KFormat.Half(wb) * Q8_KFormat.Scale(ab);
            for (int l = 0; l < 8; l++) sums[l] += d * lanes[l];
            float dmin = Q4_KFormat.Half(wb + 2) * Q8_KFormat.Scale(ab);
            total -= dmin * minSum;
        }
        for (int l = 0; l < 8; l++) total += sums[l];
        return total;
    }

    /// <summary>
    /// AVX2, the same instruction sequence and float order as ggml's x86 ggml_vec_dot_q5_K_q8_K: 5-bit quants
    /// (nibble + 16 * high bit), pmaddubsw with the activations, pmaddwd with the broadcast scale, one fma per
    /// block into 8 lanes; the minimum terms are summed as integers per block and accumulated in a scalar float.
    /// </summary>
    internal static float DotVector256(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        Vector256<float> acc = Vector256<float>.Zero;
        float minTotal = 0f;
        Vector256<byte> lowMask = Vector256.Create((byte)0x0F);
        Vector256<byte> one = Vector256.Create((byte)1);
        short* scaleValues = stackalloc short[8];
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            Prefetch.Block(wb, 176);
            byte* ab = activations + b * Q8_KFormat.BlockBytes;
            float activationScale = Q8_KFormat.Scale(ab);
            float d = activationScale * Q4_KFormat.Half(wb);
            float dmin = -activationScale * Q4_KFormat.Half(wb + 2);
            short* groupSums = (short*)(ab + Q8_KFormat.SumsOffset);
            int minSum = 0;
            for (int s = 0; s < 8; s++)
            {
                Q4_KFormat.ScaleAndMin(s, wb + ScalesOffset, out int sc, out int m);
                scaleValues[s] = (short)sc;
                // pair sums wrap to int16 exactly as _mm_hadd_epi16 does (|sum| <= 4064 never wraps in practice)
                minSum += m * (short)(groupSums[2 * s] + groupSums[2 * s + 1]);
            }
            minTotal += dmin * minSum;

            Vector256<byte> highBits = Vector256.Load(wb + HighBitsOffset);
            byte* q = wb + QuantsOffset;
            sbyte* a = (sbyte*)(ab + Q8_KFormat.QuantsOffset);
            Vector256<int> sum = Vector256<int>.Zero;
            for (int chunk = 0; chunk < 4; chunk++)
            {
                Vector256<byte> bits = Vector256.Load(q);
                q += 32;
                Vector256<byte> fifthLow = ((highBits.AsUInt16() >> (2 * chunk)).AsByte() & one) << 4;
                Vector256<byte> fifthHigh = ((highBits.AsUInt16() >> (2 * chunk + 1)).AsByte() & one) << 4;
                Vector256<byte> low = (bits & lowMask) + fifthLow;
                Vector256<byte> high = ((bits.AsUInt16() >> 4).AsByte() & lowMask) + fifthHigh;
                Vector256<short> productsLow = Avx2.MultiplyAddAdjacent(low, Vector256.Load(a));
                a += 32;
                Vector256<short> productsHigh = Avx2.MultiplyAddAdjacent(high, Vector256.Load(a));
                a += 32;
                Vector256<int> low32 = Avx2.MultiplyAddAdjacent(Vector256.Create(scaleValues[2 * chunk]), productsLow);
                Vector256<int> high32 = Avx2.MultiplyAddAdjacent(Vector256.Create(scaleValues[2 * chunk + 1]), productsHigh);
                sum = Avx2.Add(sum, Avx2.Add(low32, high32));
            }
            acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sum), acc);
        }
        return Int8Dot.HorizontalSum(acc) + minTotal;
    }
}
