using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// GGML_TYPE_Q3_K: super-blocks of 256 elements, each
/// <c>{ uint8 hmask[32]; uint8 qs[64]; uint8 scales[12]; half d; }</c> = 110 bytes. The block is 16 sub-blocks
/// of 16; sub-block s has a 6-bit scale sc[s] stored with an offset of 32 (see <see cref="Scale"/>), and
/// value = d * (sc[s] - 32) * (q - 4) with q a 3-bit quant: its 2 low bits sit in qs exactly as Q2_K's quants do
/// (element l + 32 * g of a 128-element half in bits 2g..2g+1 of qs[l]) and its high bit in bit j / 32 of
/// hmask[j % 32] for element j of the block (hmask bit clear means q - 4 &lt; 0).
/// Its activation partner is Q8_K.
/// </summary>
public static unsafe class Q3_KFormat
{
    /// <summary>Elements per super-block (QK_K).</summary>
    public const int BlockSize = 256;

    /// <summary>Bytes per block: 32 high-bit bytes + 64 bytes of 2-bit quants + 12 bytes of scales + fp16 d.</summary>
    public const int BlockBytes = BlockSize / 8 + BlockSize / 4 + ScalesBytes + 2;

    /// <summary>Bytes of packed 6-bit scales.</summary>
    public const int ScalesBytes = 12;

    /// <summary>Byte offset of the low 2 bits of the quants (after hmask).</summary>
    public const int QuantsOffset = BlockSize / 8;

    /// <summary>Byte offset of the packed scales (after the quants).</summary>
    public const int ScalesOffset = QuantsOffset + BlockSize / 4;

    /// <summary>Byte offset of the fp16 super-block scale d (after the scales).</summary>
    public const int ScaleOffset = ScalesOffset + ScalesBytes;

    /// <summary>
    /// Quantizes a row. Per 16-element sub-block a symmetric scale (value ~ scale * q, q in -4..3) is found by a
    /// small least-squares search over candidate scales (an unweighted make_q3_quants / make_qx_quants, see
    /// <see cref="KQuantFit.SearchSymmetricScale"/>); the 16 scales become signed 6-bit levels against the one of
    /// largest magnitude (iscale = -32 / that scale, d = 1 / iscale as fp16, level = nearest(iscale * scale)
    /// clamped to -32..31, as ggml's quantize_row_q3_K_ref), and each element gets the nearest of the 8 levels of
    /// its quantized sub-block scale. llama-quantize's search weights the error (by x^2, or an imatrix) and also
    /// refines the levels iteratively, so blocks differ from llama-quantize's but are valid Q3_K.
    /// </summary>
    public static void QuantizeRow(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = RowArguments.BlockCount(source.Length, BlockSize, "Q3_K", nameof(source));
        RowArguments.RequireBytes(destination.Length, (long)blocks * BlockBytes, "Q3_K", nameof(destination));
        Span<byte> levels = stackalloc byte[BlockSize];
        Span<float> scales = stackalloc float[16];
        Span<byte> scaleLevels = stackalloc byte[16];
        fixed (float* src = source)
        fixed (byte* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                float* x = src + b * BlockSize;
                byte* block = dst + b * BlockBytes;
                new Span<byte>(block, BlockBytes).Clear();
                float maxScale = 0f, maxScaleMagnitude = 0f;
                for (int s = 0; s < 16; s++)
                {
                    scales[s] = KQuantFit.SearchSymmetricScale(x + s * 16, 16, maxMagnitude: 4);
                    if (MathF.Abs(scales[s]) > maxScaleMagnitude)
                    {
                        maxScaleMagnitude = MathF.Abs(scales[s]);
                        maxScale = scales[s];
                    }
                }
                if (maxScaleMagnitude == 0f)
                {
                    continue; // d = 0: every element dequantizes to 0
                }
                float inverseScale = -32f / maxScale;
                ushort dBits = F16Format.FromSingle(1f / inverseScale);
                Unsafe.WriteUnaligned(block + ScaleOffset, dBits);
                float d = F16Format.ToSingle(dBits);
                for (int s = 0; s < 16; s++)
                {
                    int level = Math.Clamp(Q8_KFormat.NearestInt(inverseScale * scales[s]), -32, 31);
                    scaleLevels[s] = (byte)(level + 32);
                    float step = d * level;
                    for (int l = 0; l < 16; l++)
                    {
                        int q = step == 0f ? 0 : Q8_KFormat.NearestInt(x[s * 16 + l] / step);
                        levels[s * 16 + l] = (byte)(Math.Clamp(q, -4, 3) + 4);
                    }
                }
                PackScales(scaleLevels, block + ScalesOffset);
                byte* hmask = block;
                for (int j = 0; j < BlockSize; j++)
                {
                    hmask[j % 32] |= (byte)((levels[j] >> 2) << (j / 32));
                }
                byte* q2 = block + QuantsOffset;
                for (int half = 0; half < BlockSize; half += 128)
                {
                    for (int l = 0; l < 32; l++)
                    {
                        q2[l] = (byte)((levels[half + l] & 3) | ((levels[half + l + 32] & 3) << 2) |
                                       ((levels[half + l + 64] & 3) << 4) | ((levels[half + l + 96] & 3) << 6));
                    }
                    q2 += 32;
                }
            }
        }
    }

    /// <summary>ggml's dequantize_row_q3_K: y = d * (sc[s] - 32) * (q - 4).</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = RowArguments.BlockCount(destination.Length, BlockSize, "Q3_K", nameof(destination));
        RowArguments.RequireBytes(source.Length, (long)blocks * BlockBytes, "Q3_K", nameof(source));
        fixed (byte* src = source)
        fixed (float* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                byte* block = src + b * BlockBytes;
                float dAll = Q4_KFormat.Half(block + ScaleOffset);
                byte* hmask = block;
                byte* q = block + QuantsOffset;
                byte* scales = block + ScalesOffset;
                float* y = dst + b * BlockSize;
                int s = 0, bit = 0;
                for (int half = 0; half < BlockSize; half += 128)
                {
                    for (int shift = 0; shift < 8; shift += 2, bit++)
                    {
                        for (int part = 0; part < 32; part += 16, s++)
                        {
                            float dl = dAll * (Scale(s, scales) - 32);
                            for (int l = part; l < part + 16; l++)
                            {
                                *y++ = dl * Quant(q[l], hmask[l], shift, bit);
                            }
                        }
                    }
                    q += 32;
                }
            }
        }
    }

    /// <summary>Dot product of a Q3_K weight row with a Q8_K activation row at <see cref="SimdCapabilities.BestForInt8"/>.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns) =>
        Dot(weights, activations, columns, SimdCapabilities.BestForInt8);

    /// <summary>Dot product at a chosen <paramref name="level"/>; <paramref name="activations"/> is a Q8_K row.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns, SimdLevel level)
    {
        return RowArguments.Dot(weights, activations, columns, BlockSize, "Q3_K", BlockBytes, "Q8_K", Q8_KFormat.BlockBytes, DotKernel(level));
    }

    /// <summary>
    /// The row kernel for <paramref name="level"/>, as for the other K-quants: the AVX2 kernel (ggml's x86 order)
    /// at Vector256 and at Vector512 (ggml's AVX-512 builds run the AVX2 K-quant dot too), the scalar reference
    /// at Vector128 and Scalar.
    /// </summary>
    internal static delegate*<byte*, byte*, int, float> DotKernel(SimdLevel level)
    {
        SimdCapabilities.Require(level);
        return KQuantFit.UsesAvx2(level) ? &DotVector256 : &DotScalar;
    }

    /// <summary>
    /// Reference (ggml_vec_dot_q3_K_q8_K generic): 8 int32 lanes (element j into lane j % 8) of
    /// (sc - 32) * (q - 4) * a, scaled by d_w * d_a into 8 float sums, added at the end.
    /// </summary>
    internal static float DotScalar(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        float* sums = stackalloc float[8];
        int* lanes = stackalloc int[8];
        for (int l = 0; l < 8; l++) sums[l] = 0f;
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            byte* ab = activations + b * Q8_KFormat.BlockBytes;
            byte* hmask = wb;
            byte* q = wb + QuantsOffset;
            byte* scales = wb + ScalesOffset;
            sbyte* a = (sbyte*)(ab + Q8_KFormat.QuantsOffset);
            for (int l = 0; l < 8; l++) lanes[l] = 0;
            int s = 0, bit = 0;
            for (int half = 0; half < BlockSize; half += 128)
            {
                for (int shift = 0; shift < 8; shift += 2, bit++)
                {
                    for (int part = 0; part < 32; part += 16, s++)
                    {
                        int scale = Scale(s, scales) - 32;
                        for (int l = 0; l < 16; l++)
                        {
                            lanes[l & 7] += scale * (Quant(q[part + l], hmask[part + l], shift, bit) * a[l]);
                        }
                        a += 16;
                    }
                }
                q += 32;
            }
            float d = Q4_KFormat.Half(wb + ScaleOffset) * Q8_KFormat.Scale(ab);
            for (int l = 0; l < 8; l++) sums[l] += d * lanes[l];
        }
        float total = 0f;
        for (int l = 0; l < 8; l++) total += sums[l];
        return total;
    }

    /// <summary>
    /// AVX2, the same instruction sequence and float order as ggml's x86 ggml_vec_dot_q3_K_q8_K: the 2 low bits and
    /// the missing high bit (4 where hmask's bit is clear) each go through pmaddubsw with the activations and are
    /// subtracted, then pmaddwd with the sub-block scales (first 16 elements of a 32-element group in the low
    /// 128-bit lane, next 16 in the high one), one fma per block into 8 lanes, hsum_float_8 at the end.
    /// </summary>
    internal static float DotVector256(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        Vector256<float> acc = Vector256<float>.Zero;
        Vector256<byte> twoBits = Vector256.Create((byte)3);
        Vector256<byte> one = Vector256.Create((byte)1);
        short* scaleValues = stackalloc short[16];
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            byte* ab = activations + b * Q8_KFormat.BlockBytes;
            float d = Q8_KFormat.Scale(ab) * Q4_KFormat.Half(wb + ScaleOffset);
            for (int s = 0; s < 16; s++)
            {
                scaleValues[s] = (short)(Scale(s, wb + ScalesOffset) - 32);
            }
            Vector256<byte> missingHigh = ~Vector256.Load(wb);
            byte* q = wb + QuantsOffset;
            sbyte* a = (sbyte*)(ab + Q8_KFormat.QuantsOffset);
            Vector256<int> sum = Vector256<int>.Zero;
            int bit = 0;
            for (int half = 0; half < 2; half++)
            {
                Vector256<byte> bits = Vector256.Load(q);
                q += 32;
                short* sc = scaleValues + 8 * half;
                Vector256<int> p0 = Group(bits & twoBits, HighPart(missingHigh, one, bit++), a, sc, 0);
                Vector256<int> p1 = Group((bits.AsUInt16() >> 2).AsByte() & twoBits, HighPart(missingHigh, one, bit++), a + 32, sc, 2);
                Vector256<int> p2 = Group((bits.AsUInt16() >> 4).AsByte() & twoBits, HighPart(missingHigh, one, bit++), a + 64, sc, 4);
                Vector256<int> p3 = Group((bits.AsUInt16() >> 6).AsByte() & twoBits, HighPart(missingHigh, one, bit++), a + 96, sc, 6);
                a += 128;
                sum = Avx2.Add(sum, Avx2.Add(Avx2.Add(p0, p1), Avx2.Add(p2, p3)));
            }
            acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sum), acc);
        }
        return Int8Dot.HorizontalSum(acc);
    }

    /// <summary>4 where bit <paramref name="bit"/> of hmask is clear, else 0 (per byte).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> HighPart(Vector256<byte> missingHigh, Vector256<byte> one, int bit) =>
        (((missingHigh.AsUInt16() >> bit).AsByte()) & one) << 2;

    /// <summary>
    /// One 32-element group: (low - high) * a summed in pairs (as pmaddubsw(low, a) - pmaddubsw(high, a)), then
    /// pmaddwd with sc[s] for elements 0-15 and sc[s + 1] for 16-31.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Group(Vector256<byte> low, Vector256<byte> high, sbyte* a, short* sc, int s)
    {
        Vector256<sbyte> activations = Vector256.Load(a);
        Vector256<short> products = Avx2.Subtract(
            Avx2.MultiplyAddAdjacent(low, activations), Avx2.MultiplyAddAdjacent(high, activations));
        Vector256<short> scales = Vector256.Create(Vector128.Create(sc[s]), Vector128.Create(sc[s + 1]));
        return Avx2.MultiplyAddAdjacent(scales, products);
    }

    /// <summary>The signed 3-bit quant q - 4 (-4..3) from its qs byte, hmask byte, qs shift and hmask bit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Quant(byte low, byte high, int shift, int bit) =>
        ((low >> shift) & 3) - (((high >> bit) & 1) != 0 ? 0 : 4);

    /// <summary>
    /// Sub-block <paramref name="j"/>'s stored 6-bit scale (0..63; the signed scale is this minus 32): its low 4
    /// bits are the low nibble of scales[j] for j &lt; 8 and the high nibble of scales[j - 8] for j &gt;= 8; its top
    /// 2 bits are bits 2 * (j / 4) .. + 1 of scales[8 + j % 4].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Scale(int j, byte* scales)
    {
        int low = j < 8 ? scales[j] & 0x0F : scales[j - 8] >> 4;
        int high = (scales[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
        return low | (high << 4);
    }

    /// <summary>Packs 16 six-bit stored scales (0..63) into 12 bytes, the inverse of <see cref="Scale"/>.</summary>
    internal static void PackScales(ReadOnlySpan<byte> scaleLevels, byte* scales)
    {
        new Span<byte>(scales, ScalesBytes).Clear();
        for (int j = 0; j < 16; j++)
        {
            int level = scaleLevels[j];
            if (j < 8)
            {
                scales[j] = (byte)(level & 0x0F);
            }
            else
            {
                scales[j - 8] |= (byte)((level & 0x0F) << 4);
            }
            scales[8 + (j & 3)] |= (byte)((level >> 4) << (2 * (j >> 2)));
        }
    }
}
