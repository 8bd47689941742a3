using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// GGML_TYPE_Q2_K: super-blocks of 256 elements, each
/// <c>{ uint8 scales[16]; uint8 qs[64]; half d; half dmin; }</c> = 84 bytes. The block is 16 sub-blocks of 16;
/// scales[s] holds sub-block s's 4-bit scale (low nibble) and 4-bit minimum (high nibble), and
/// value = d * scale * q - dmin * min with q a 2-bit quant. Per 128-element half, element l (0..31) + 32 * g takes
/// bits 2g..2g+1 of qs[l] (g = 0..3), so each byte of qs carries four elements 32 apart.
/// Its activation partner is Q8_K.
/// </summary>
public static unsafe class Q2_KFormat
{
    /// <summary>Elements per super-block (QK_K).</summary>
    public const int BlockSize = 256;

    /// <summary>Bytes per block: 16 scale/min bytes + 64 bytes of 2-bit quants + fp16 d + fp16 dmin.</summary>
    public const int BlockBytes = BlockSize / 16 + BlockSize / 4 + 2 + 2;

    /// <summary>Byte offset of the 2-bit quants (after the 16 scale/min bytes).</summary>
    public const int QuantsOffset = BlockSize / 16;

    /// <summary>Byte offset of the fp16 super-block scale d (after the quants).</summary>
    public const int ScaleOffset = QuantsOffset + BlockSize / 4;

    /// <summary>Byte offset of the fp16 super-block minimum scale dmin (after d).</summary>
    public const int MinScaleOffset = ScaleOffset + 2;

    /// <summary>
    /// Quantizes a row. Per 16-element sub-block a scale and a minimum (value ~ scale * q - min, q in 0..3,
    /// min &gt;= 0) are fitted by a small least-squares search over candidate scales (an unweighted
    /// make_qkx2_quants, see <see cref="KQuantFit.SearchScaleAndMin"/>); the 16 scales and 16 minimums become 4-bit
    /// levels against d = largest scale / 15 and dmin = largest minimum / 15 (fp16), the floor/ceiling level pair
    /// with the lowest error kept, and each element gets the nearest level of its sub-block's quantized scale and
    /// minimum, as ggml's quantize_row_q2_K_ref does in its last step. llama-quantize's search weights the error
    /// by |x| (or an imatrix) and is otherwise similar, so blocks differ from llama-quantize's but are valid Q2_K
    /// with a comparable error.
    /// </summary>
    public static void QuantizeRow(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = RowArguments.BlockCount(source.Length, BlockSize, "Q2_K", nameof(source));
        RowArguments.RequireBytes(destination.Length, (long)blocks * BlockBytes, "Q2_K", nameof(destination));
        Span<byte> levels = stackalloc byte[BlockSize];
        Span<byte> scaleLevels = stackalloc byte[16];
        Span<byte> minLevels = stackalloc byte[16];
        fixed (float* src = source)
        fixed (byte* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                float* x = src + b * BlockSize;
                byte* block = dst + b * BlockBytes;
                KQuantFit.FitAsymmetric(x, levels, scaleLevels, minLevels, maxLevel: 3, subBlockSize: 16,
                    maxScaleLevel: 15, out ushort dBits, out ushort dminBits);
                Unsafe.WriteUnaligned(block + ScaleOffset, dBits);
                Unsafe.WriteUnaligned(block + MinScaleOffset, dminBits);
                for (int s = 0; s < 16; s++)
                {
                    block[s] = (byte)(scaleLevels[s] | (minLevels[s] << 4));
                }
                byte* q = block + QuantsOffset;
                for (int half = 0; half < BlockSize; half += 128)
                {
                    for (int l = 0; l < 32; l++)
                    {
                        q[l] = (byte)(levels[half + l] | (levels[half + l + 32] << 2) |
                                      (levels[half + l + 64] << 4) | (levels[half + l + 96] << 6));
                    }
                    q += 32;
                }
            }
        }
    }

    /// <summary>ggml's dequantize_row_q2_K: y = d * (scales[s] &amp; 15) * q - dmin * (scales[s] &gt;&gt; 4).</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = RowArguments.BlockCount(destination.Length, BlockSize, "Q2_K", nameof(destination));
        RowArguments.RequireBytes(source.Length, (long)blocks * BlockBytes, "Q2_K", nameof(source));
        fixed (byte* src = source)
        fixed (float* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                byte* block = src + b * BlockBytes;
                float d = Q4_KFormat.Half(block + ScaleOffset);
                float min = Q4_KFormat.Half(block + MinScaleOffset);
                byte* q = block + QuantsOffset;
                float* y = dst + b * BlockSize;
                int s = 0;
                for (int half = 0; half < BlockSize; half += 128)
                {
                    for (int shift = 0; shift < 8; shift += 2)
                    {
                        for (int part = 0; part < 32; part += 16, s++)
                        {
                            float dl = d * (block[s] & 0x0F);
                            float ml = min * (block[s] >> 4);
                            for (int l = 0; l < 16; l++) *y++ = dl * ((q[part + l] >> shift) & 3) - ml;
                        }
                    }
                    q += 32;
                }
            }
        }
    }

    /// <summary>Dot product of a Q2_K weight row with a Q8_K activation row at <see cref="SimdCapabilities.BestForInt8"/>.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns) =>
        Dot(weights, activations, columns, SimdCapabilities.BestForInt8);

    /// <summary>Dot product at a chosen <paramref name="level"/>; <paramref name="activations"/> is a Q8_K row.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns, SimdLevel level)
    {
        return RowArguments.Dot(weights, activations, columns, BlockSize, "Q2_K", BlockBytes, "Q8_K", Q8_KFormat.BlockBytes, DotKernel(level));
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
    /// Reference (ggml_vec_dot_q2_K_q8_K generic): per block one int32 sum of scale * q * a over the 16
    /// sub-blocks and one of min * (Q8_K group sum), then total += d_w * d_a * sum - dmin_w * d_a * minSum.
    /// </summary>
    internal static float DotScalar(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        float total = 0f;
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            byte* ab = activations + b * Q8_KFormat.BlockBytes;
            byte* q = wb + QuantsOffset;
            sbyte* a = (sbyte*)(ab + Q8_KFormat.QuantsOffset);
            short* groupSums = (short*)(ab + Q8_KFormat.SumsOffset);
            int minSum = 0;
            for (int s = 0; s < 16; s++) minSum += groupSums[s] * (wb[s] >> 4);
            int sum = 0, s2 = 0;
            for (int half = 0; half < BlockSize; half += 128)
            {
                for (int shift = 0; shift < 8; shift += 2)
                {
                    for (int part = 0; part < 32; part += 16, s2++)
                    {
                        int partial = 0;
                        for (int l = 0; l < 16; l++) partial += a[l] * ((q[part + l] >> shift) & 3);
                        sum += (wb[s2] & 0x0F) * partial;
                        a += 16;
                    }
                }
                q += 32;
            }
            float activationScale = Q8_KFormat.Scale(ab);
            float d = activationScale * Q4_KFormat.Half(wb + ScaleOffset);
            float dmin = activationScale * Q4_KFormat.Half(wb + MinScaleOffset);
            total += d * sum - dmin * minSum;
        }
        return total;
    }

    /// <summary>
    /// AVX2, the same instruction sequence and float order as ggml's x86 ggml_vec_dot_q2_K_q8_K: per block one
    /// fma of -dmin with the 8 pair sums of mins x bsums (pmaddwd), then the quants: pmaddubsw of the 2-bit values
    /// with the activations, pmaddwd with the sub-block scales (first 16 elements of a 32-element group in the low
    /// 128-bit lane, next 16 in the high one), and one fma of d into the same 8 lanes; hsum_float_8 at the end.
    /// </summary>
    internal static float DotVector256(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        Vector256<float> acc = Vector256<float>.Zero;
        Vector256<byte> twoBits = Vector256.Create((byte)3);
        Vector128<byte> lowMask = Vector128.Create((byte)0x0F);
        short* scaleValues = stackalloc short[16];
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            byte* ab = activations + b * Q8_KFormat.BlockBytes;
            float activationScale = Q8_KFormat.Scale(ab);
            float d = activationScale * Q4_KFormat.Half(wb + ScaleOffset);
            float dmin = -activationScale * Q4_KFormat.Half(wb + MinScaleOffset);

            Vector128<byte> scalesAndMins = Vector128.Load(wb);
            Vector128<byte> scales8 = scalesAndMins & lowMask;
            Vector128<byte> mins8 = (scalesAndMins.AsUInt16() >> 4).AsByte() & lowMask;
            Vector256<short> mins = Avx2.ConvertToVector256Int16(mins8.AsSByte());
            Vector256<int> minProducts = Avx2.MultiplyAddAdjacent(mins, Vector256.Load((short*)(ab + Q8_KFormat.SumsOffset)));
            acc = Fma.MultiplyAdd(Vector256.Create(dmin), Avx.ConvertToVector256Single(minProducts), acc);
            Avx2.ConvertToVector256Int16(scales8.AsSByte()).Store(scaleValues);

            byte* q = wb + QuantsOffset;
            sbyte* a = (sbyte*)(ab + Q8_KFormat.QuantsOffset);
            Vector256<int> sum = Vector256<int>.Zero;
            for (int half = 0; half < 2; half++)
            {
                Vector256<byte> bits = Vector256.Load(q);
                q += 32;
                short* sc = scaleValues + 8 * half;
                Vector256<int> p0 = Group(bits & twoBits, a, sc, 0);
                Vector256<int> p1 = Group((bits.AsUInt16() >> 2).AsByte() & twoBits, a + 32, sc, 2);
                Vector256<int> p2 = Group((bits.AsUInt16() >> 4).AsByte() & twoBits, a + 64, sc, 4);
                Vector256<int> p3 = Group((bits.AsUInt16() >> 6).AsByte() & twoBits, a + 96, sc, 6);
                a += 128;
                sum = Avx2.Add(sum, Avx2.Add(Avx2.Add(p0, p1), Avx2.Add(p2, p3)));
            }
            acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sum), acc);
        }
        return Int8Dot.HorizontalSum(acc);
    }

    /// <summary>
    /// One 32-element group: q * a summed in pairs (pmaddubsw), then pmaddwd with sc[s] for elements 0-15 and
    /// sc[s + 1] for 16-31 (ggml's get_scale_shuffle_q3k broadcast).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Group(Vector256<byte> q, sbyte* a, short* sc, int s)
    {
        Vector256<short> products = Avx2.MultiplyAddAdjacent(q, Vector256.Load(a));
        Vector256<short> scales = Vector256.Create(Vector128.Create(sc[s]), Vector128.Create(sc[s + 1]));
        return Avx2.MultiplyAddAdjacent(scales, products);
    }
}
