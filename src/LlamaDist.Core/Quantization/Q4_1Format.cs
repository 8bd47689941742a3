using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// GGML_TYPE_Q4_1: blocks of 32 elements, each <c>{ half d; half m; uint8 qs[16]; }</c> = 20 bytes. Element j &lt; 16
/// is the low nibble of qs[j], element j &gt;= 16 the high nibble of qs[j - 16]; value = nibble * d + m.
/// Its activation partner is Q8_1 (whose block sum s carries the m term: Σ (q d + m) y = d Σ q y + m s).
/// </summary>
public static unsafe class Q4_1Format
{
    /// <summary>Elements per block (QK4_1).</summary>
    public const int BlockSize = 32;

    /// <summary>Bytes per block: fp16 scale + fp16 minimum + 16 bytes of nibbles.</summary>
    public const int BlockBytes = 4 + BlockSize / 2;

    /// <summary>Byte offset of the fp16 minimum m.</summary>
    public const int MinOffset = 2;

    /// <summary>Byte offset of the nibbles inside a block (after d and m).</summary>
    public const int QuantsOffset = 4;

    /// <summary>
    /// Bit-exact port of ggml's <c>quantize_row_q4_1_ref</c>: per block min and max, d = (max - min) / 15 and
    /// m = min (both stored as fp16), id = 1 / d from the float d, q = min(15, (int8)((x - min) * id + 0.5f)).
    /// </summary>
    public static void QuantizeRow(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = RowArguments.BlockCount(source.Length, BlockSize, "Q4_1", nameof(source));
        RowArguments.RequireBytes(destination.Length, (long)blocks * BlockBytes, "Q4_1", nameof(destination));
        fixed (float* src = source)
        fixed (byte* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                float* x = src + b * BlockSize;
                byte* block = dst + b * BlockBytes;
                float min = float.MaxValue;
                float max = float.MinValue;
                for (int j = 0; j < BlockSize; j++)
                {
                    if (x[j] < min) min = x[j];
                    if (x[j] > max) max = x[j];
                }
                float d = (max - min) / 15f;
                float inverse = d != 0f ? 1f / d : 0f;
                Unsafe.WriteUnaligned(block, F16Format.FromSingle(d));
                Unsafe.WriteUnaligned(block + MinOffset, F16Format.FromSingle(min));
                byte* q = block + QuantsOffset;
                for (int j = 0; j < BlockSize / 2; j++)
                {
                    // C: uint8_t xi = MIN(15, (int8_t)((x - min) * id + 0.5f)); qs[j] = xi0 | (xi1 << 4).
                    byte low = (byte)Math.Min(15, (int)(sbyte)(int)((x[j] - min) * inverse + 0.5f));
                    byte high = (byte)Math.Min(15, (int)(sbyte)(int)((x[j + BlockSize / 2] - min) * inverse + 0.5f));
                    q[j] = (byte)(low | (high << 4));
                }
            }
        }
    }

    /// <summary>ggml's dequantize_row_q4_1: y[j] = low nibble * d + m, y[j + 16] = high nibble * d + m.</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = RowArguments.BlockCount(destination.Length, BlockSize, "Q4_1", nameof(destination));
        RowArguments.RequireBytes(source.Length, (long)blocks * BlockBytes, "Q4_1", nameof(source));
        fixed (byte* src = source)
        fixed (float* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                byte* block = src + b * BlockBytes;
                float d = Q8_0Format.Scale(block);
                float m = Q8_0Format.Scale(block + MinOffset);
                byte* q = block + QuantsOffset;
                float* y = dst + b * BlockSize;
                for (int j = 0; j < BlockSize / 2; j++)
                {
                    y[j] = (q[j] & 0x0F) * d + m;
                    y[j + BlockSize / 2] = (q[j] >> 4) * d + m;
                }
            }
        }
    }

    /// <summary>Dot product of a Q4_1 weight row with a Q8_1 activation row at <see cref="SimdCapabilities.BestForInt8"/>.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns) =>
        Dot(weights, activations, columns, SimdCapabilities.BestForInt8);

    /// <summary>Dot product at a chosen <paramref name="level"/>; <paramref name="activations"/> is a Q8_1 row.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns, SimdLevel level)
    {
        return RowArguments.Dot(weights, activations, columns, BlockSize, "Q4_1", BlockBytes, "Q8_1", Q8_1Format.BlockBytes, DotKernel(level));
    }

    /// <summary>
    /// The row kernel for <paramref name="level"/>: (weight row, Q8_1 activation row, columns) -> dot.
    /// Vector512 runs the AVX2 kernel: ggml's x86 q4_1 dot is AVX2-only, so that keeps its summation order.
    /// </summary>
    internal static delegate*<byte*, byte*, int, float> DotKernel(SimdLevel level)
    {
        SimdCapabilities.Require(level);
        return level switch
        {
            SimdLevel.Vector512 or SimdLevel.Vector256 => &DotVector256,
            SimdLevel.Vector128 => &DotVector128,
            _ => &DotScalar,
        };
    }

    /// <summary>
    /// Reference (ggml_vec_dot_q4_1_q8_1 generic): per block (d_w * d_x) * Σ q_w q_x + m_w * s_x, summed in float.
    /// </summary>
    internal static float DotScalar(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        float sum = 0f;
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            byte* ab = activations + b * Q8_1Format.BlockBytes;
            byte* wq = wb + QuantsOffset;
            sbyte* aq = (sbyte*)(ab + Q8_1Format.QuantsOffset);
            int lowSum = 0, highSum = 0;
            for (int j = 0; j < BlockSize / 2; j++)
            {
                lowSum += (wq[j] & 0x0F) * aq[j];
                highSum += (wq[j] >> 4) * aq[j + BlockSize / 2];
            }
            sum += Q8_0Format.Scale(wb) * Q8_1Format.Scale(ab) * (lowSum + highSum) +
                   Q8_0Format.Scale(wb + MinOffset) * Q8_1Format.ScaledSum(ab);
        }
        return sum;
    }

    internal static float DotVector128(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        Vector128<float> acc = Vector128<float>.Zero;
        Vector128<byte> lowMask = Vector128.Create((byte)0x0F);
        float offsets = 0f;
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            byte* ab = activations + b * Q8_1Format.BlockBytes;
            Vector128<byte> packed = Vector128.Load(wb + QuantsOffset);
            Vector128<sbyte> low = (packed & lowMask).AsSByte();
            Vector128<sbyte> high = ((packed.AsUInt16() >> 4).AsByte() & lowMask).AsSByte();
            Vector128<int> sums = LegacyQuantVectors.MulSumBlock128(low, high, (sbyte*)(ab + Q8_1Format.QuantsOffset));
            acc = Vector128.MultiplyAddEstimate(Vector128.ConvertToSingle(sums),
                Vector128.Create(Q8_0Format.Scale(wb) * Q8_1Format.Scale(ab)), acc);
            offsets += Q8_0Format.Scale(wb + MinOffset) * Q8_1Format.ScaledSum(ab);
        }
        return Vector128.Sum(acc) + offsets;
    }

    /// <summary>
    /// AVX2, the same instruction sequence and summation order as ggml's x86 vec_dot_q4_1_q8_1: the d terms in a
    /// 256-bit accumulator (hsum_float_8 at the end), the m * s terms in a separate float, added last.
    /// </summary>
    internal static float DotVector256(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        Vector256<float> acc = Vector256<float>.Zero;
        float offsets = 0f;
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            byte* ab = activations + b * Q8_1Format.BlockBytes;
            offsets += Q8_0Format.Scale(wb + MinOffset) * Q8_1Format.ScaledSum(ab);
            Vector256<float> scale = Vector256.Create(Q8_0Format.Scale(wb)) * Vector256.Create(Q8_1Format.Scale(ab));
            Vector256<float> products = LegacyQuantVectors.MulSumUnsignedPairs(
                LegacyQuantVectors.Nibbles(wb + QuantsOffset),
                Vector256.Load((sbyte*)(ab + Q8_1Format.QuantsOffset)));
            acc = Fma.MultiplyAdd(scale, products, acc);
        }
        return Int8Dot.HorizontalSum(acc) + offsets;
    }
}
