using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// GGML_TYPE_Q6_K: super-blocks of 256 elements, each
/// <c>{ uint8 ql[128]; uint8 qh[64]; int8 scales[16]; half d; }</c> = 210 bytes. Each element is a 6-bit quant q
/// (4 low bits in ql, 2 high bits in qh) and value = d * scales[s] * (q - 32) for its 16-element sub-block s.
/// Per 128-element half: element l (0..31) / l + 32 / l + 64 / l + 96 take the low / low / high / high nibble of
/// ql[l] / ql[l + 32] / ql[l] / ql[l + 32] and bits 0-1 / 2-3 / 4-5 / 6-7 of qh[l].
/// Its activation partner is Q8_K.
/// </summary>
public static unsafe class Q6_KFormat
{
    /// <summary>Elements per super-block (QK_K).</summary>
    public const int BlockSize = 256;

    /// <summary>Bytes per block: 128 low-bit bytes + 64 high-bit bytes + 16 int8 scales + fp16 d.</summary>
    public const int BlockBytes = BlockSize / 2 + BlockSize / 4 + BlockSize / 16 + 2;

    /// <summary>Byte offset of qh (after ql).</summary>
    public const int HighBitsOffset = BlockSize / 2;

    /// <summary>Byte offset of the 16 int8 scales (after qh).</summary>
    public const int ScalesOffset = HighBitsOffset + BlockSize / 4;

    /// <summary>Byte offset of the fp16 super-block scale d (after the scales).</summary>
    public const int ScaleOffset = ScalesOffset + BlockSize / 16;

    /// <summary>
    /// Quantizes a row. Per 16-element sub-block a float scale comes from <see cref="KQuantFit.SearchSymmetricScale"/>
    /// (levels -32..31, several candidate scales, least squares); the 16 scales become int8 levels against the
    /// largest one (iscale = -128 / that scale, d = 1 / iscale as fp16, level = min(127, nearest(iscale * scale)),
    /// as ggml's quantize_row_q6_K_ref), and each element gets the nearest of the 64 levels of its quantized
    /// sub-block scale. llama-quantize's search weights the error by |x|; this one minimises the plain squared
    /// error, so blocks differ from llama-quantize's (their squared error is about 5% lower).
    /// </summary>
    public static void QuantizeRow(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = RowArguments.BlockCount(source.Length, BlockSize, "Q6_K", nameof(source));
        RowArguments.RequireBytes(destination.Length, (long)blocks * BlockBytes, "Q6_K", nameof(destination));
        Span<byte> levels = stackalloc byte[BlockSize];
        Span<float> scales = stackalloc float[16];
        fixed (float* src = source)
        fixed (byte* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                float* x = src + b * BlockSize;
                byte* block = dst + b * BlockBytes;
                float maxScale = 0f, maxScaleMagnitude = 0f;
                for (int s = 0; s < 16; s++)
                {
                    scales[s] = KQuantFit.SearchSymmetricScale(x + s * 16, 16, maxMagnitude: 32);
                    if (MathF.Abs(scales[s]) > maxScaleMagnitude)
                    {
                        maxScaleMagnitude = MathF.Abs(scales[s]);
                        maxScale = scales[s];
                    }
                }
                sbyte* scaleLevels = (sbyte*)(block + ScalesOffset);
                if (maxScaleMagnitude == 0f)
                {
                    new Span<byte>(block, BlockBytes).Clear();
                    continue;
                }
                float inverseScale = -128f / maxScale;
                ushort dBits = F16Format.FromSingle(1f / inverseScale);
                Unsafe.WriteUnaligned(block + ScaleOffset, dBits);
                float d = F16Format.ToSingle(dBits);
                for (int s = 0; s < 16; s++)
                {
                    int level = Math.Min(127, Q8_KFormat.NearestInt(inverseScale * scales[s]));
                    scaleLevels[s] = (sbyte)level;
                    float step = d * level;
                    for (int l = 0; l < 16; l++)
                    {
                        int q = step == 0f ? 0 : Q8_KFormat.NearestInt(x[s * 16 + l] / step);
                        levels[s * 16 + l] = (byte)(Math.Clamp(q, -32, 31) + 32);
                    }
                }
                byte* ql = block;
                byte* qh = block + HighBitsOffset;
                for (int half = 0; half < BlockSize; half += 128)
                {
                    for (int l = 0; l < 32; l++)
                    {
                        int q1 = levels[half + l], q2 = levels[half + l + 32];
                        int q3 = levels[half + l + 64], q4 = levels[half + l + 96];
                        ql[l] = (byte)((q1 & 0x0F) | ((q3 & 0x0F) << 4));
                        ql[l + 32] = (byte)((q2 & 0x0F) | ((q4 & 0x0F) << 4));
                        qh[l] = (byte)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
                    }
                    ql += 64;
                    qh += 32;
                }
            }
        }
    }

    /// <summary>ggml's dequantize_row_q6_K: y = d * scales[s] * (q - 32).</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = RowArguments.BlockCount(destination.Length, BlockSize, "Q6_K", nameof(destination));
        RowArguments.RequireBytes(source.Length, (long)blocks * BlockBytes, "Q6_K", nameof(source));
        fixed (byte* src = source)
        fixed (float* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                byte* block = src + b * BlockBytes;
                float d = Q4_KFormat.Half(block + ScaleOffset);
                byte* ql = block;
                byte* qh = block + HighBitsOffset;
                sbyte* sc = (sbyte*)(block + ScalesOffset);
                float* y = dst + b * BlockSize;
                for (int half = 0; half < BlockSize; half += 128)
                {
                    for (int l = 0; l < 32; l++)
                    {
                        int s = l / 16;
                        int q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32;
                        int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                        int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                        int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                        y[l] = d * sc[s] * q1;
                        y[l + 32] = d * sc[s + 2] * q2;
                        y[l + 64] = d * sc[s + 4] * q3;
                        y[l + 96] = d * sc[s + 6] * q4;
                    }
                    y += 128;
                    ql += 64;
                    qh += 32;
                    sc += 8;
                }
            }
        }
    }

    /// <summary>Dot product of a Q6_K weight row with a Q8_K activation row at <see cref="SimdCapabilities.BestForInt8"/>.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns) =>
        Dot(weights, activations, columns, SimdCapabilities.BestForInt8);

    /// <summary>Dot product at a chosen <paramref name="level"/>; <paramref name="activations"/> is a Q8_K row.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns, SimdLevel level)
    {
        return RowArguments.Dot(weights, activations, columns, BlockSize, "Q6_K", BlockBytes, "Q8_K", Q8_KFormat.BlockBytes, DotKernel(level));
    }

    /// <summary>The row kernel for <paramref name="level"/> (AVX2 at Vector256 and up, else scalar).</summary>
    internal static delegate*<byte*, byte*, int, float> DotKernel(SimdLevel level)
    {
        SimdCapabilities.Require(level);
        return KQuantFit.UsesAvx2(level) ? &DotVector256 : &DotScalar;
    }

    /// <summary>
    /// Reference (ggml_vec_dot_q6_K_q8_K generic): 8 int32 lanes (element j into lane j % 8) of
    /// scale * (q - 32) * a, scaled by d_w * d_a into 8 float sums, added at the end.
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
            byte* ql = wb;
            byte* qh = wb + HighBitsOffset;
            sbyte* sc = (sbyte*)(wb + ScalesOffset);
            sbyte* a = (sbyte*)(ab + Q8_KFormat.QuantsOffset);
            for (int l = 0; l < 8; l++) lanes[l] = 0;
            for (int half = 0; half < BlockSize; half += 128)
            {
                for (int l = 0; l < 32; l++)
                {
                    int q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    int s = half / 16 + l / 16;
                    lanes[l & 7] += sc[s] * (q1 * a[half + l]) + sc[s + 2] * (q2 * a[half + l + 32]) +
                                    sc[s + 4] * (q3 * a[half + l + 64]) + sc[s + 6] * (q4 * a[half + l + 96]);
                }
                ql += 64;
                qh += 32;
            }
            float d = Q4_KFormat.Half(wb + ScaleOffset) * Q8_KFormat.Scale(ab);
            for (int l = 0; l < 8; l++) sums[l] += d * lanes[l];
        }
        float total = 0f;
        for (int l = 0; l < 8; l++) total += sums[l];
        return total;
    }

    /// <summary>
    /// AVX2, the same instruction sequence and float order as ggml's x86 ggml_vec_dot_q6_K_q8_K: 6-bit quants
    /// rebuilt from ql/qh, pmaddubsw with the activations minus pmaddubsw(32, activations), pmaddwd with the
    /// sign-extended scales, one fma per block into 8 lanes, ggml's hsum_float_8 at the end.
    /// </summary>
    internal static float DotVector256(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        Vector256<float> acc = Vector256<float>.Zero;
        Vector256<byte> lowMask = Vector256.Create((byte)0x0F);
        Vector256<byte> twoBits = Vector256.Create((byte)3);
        Vector256<byte> offset = Vector256.Create((byte)32);
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            Prefetch.Block(wb, 210);
            byte* ab = activations + b * Q8_KFormat.BlockBytes;
            float d = Q8_KFormat.Scale(ab) * Q4_KFormat.Half(wb + ScaleOffset);
            byte* ql = wb;
            byte* qh = wb + HighBitsOffset;
            sbyte* sc = (sbyte*)(wb + ScalesOffset);
            sbyte* a = (sbyte*)(ab + Q8_KFormat.QuantsOffset);
            Vector256<int> sum = Vector256<int>.Zero;
            for (int half = 0; half < 2; half++)
            {
                Vector256<byte> bits1 = Vector256.Load(ql);
                Vector256<byte> bits2 = Vector256.Load(ql + 32);
                Vector256<byte> bitsHigh = Vector256.Load(qh);
                ql += 64;
                qh += 32;
                Vector256<byte> high0 = (bitsHigh & twoBits) << 4;
                Vector256<byte> high1 = (((bitsHigh.AsUInt16() >> 2).AsByte()) & twoBits) << 4;
                Vector256<byte> high2 = (((bitsHigh.AsUInt16() >> 4).AsByte()) & twoBits) << 4;
                Vector256<byte> high3 = (((bitsHigh.AsUInt16() >> 6).AsByte()) & twoBits) << 4;
                Vector256<byte> q0 = (bits1 & lowMask) | high0;
                Vector256<byte> q1 = (bits2 & lowMask) | high1;
                Vector256<byte> q2 = ((bits1.AsUInt16() >> 4).AsByte() & lowMask) | high2;
                Vector256<byte> q3 = ((bits2.AsUInt16() >> 4).AsByte() & lowMask) | high3;
                Vector256<int> p0 = Group(q0, a, sc, 0, offset);
                Vector256<int> p1 = Group(q1, a + 32, sc, 2, offset);
                Vector256<int> p2 = Group(q2, a + 64, sc, 4, offset);
                Vector256<int> p3 = Group(q3, a + 96, sc, 6, offset);
                sum = Avx2.Add(sum, Avx2.Add(p0, p1));
                sum = Avx2.Add(sum, Avx2.Add(p2, p3));
                a += 128;
                sc += 8;
            }
            acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sum), acc);
        }
        return Int8Dot.HorizontalSum(acc);
    }

    /// <summary>
    /// One 32-element group: (q - 32) * a summed in pairs (as pmaddubsw(q, a) - pmaddubsw(32, a)), then pmaddwd
    /// with scales[s] for elements 0-15 and scales[s + 1] for 16-31.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Group(Vector256<byte> q, sbyte* a, sbyte* sc, int s, Vector256<byte> offset)
    {
        Vector256<sbyte> activations = Vector256.Load(a);
        Vector256<short> products = Avx2.Subtract(
            Avx2.MultiplyAddAdjacent(q, activations), Avx2.MultiplyAddAdjacent(offset, activations));
        Vector256<short> scales = Vector256.Create(Vector128.Create((short)sc[s]), Vector128.Create((short)sc[s + 1]));
        return Avx2.MultiplyAddAdjacent(scales, products);
    }
}
