using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// GGML_TYPE_Q5_1: blocks of 32 elements, each <c>{ half d; half m; uint8 qh[4]; uint8 qs[16]; }</c> = 24 bytes.
/// The 5-bit quant of element j is its nibble (as in <see cref="Q5_0Format"/>) plus bit j of qh as bit 4;
/// value = q * d + m. Its activation partner is Q8_1 (whose block sum s carries the m term).
/// </summary>
public static unsafe class Q5_1Format
{
    /// <summary>Elements per block (QK5_1).</summary>
    public const int BlockSize = 32;

    /// <summary>Bytes per block: fp16 scale + fp16 minimum + 4 bytes of high bits + 16 bytes of nibbles.</summary>
    public const int BlockBytes = 4 + 4 + BlockSize / 2;

    /// <summary>Byte offset of the fp16 minimum m.</summary>
    public const int MinOffset = 2;

    /// <summary>Byte offset of the 32 high bits.</summary>
    public const int HighBitsOffset = 4;

    /// <summary>Byte offset of the nibbles inside a block.</summary>
    public const int QuantsOffset = 8;

    /// <summary>
    /// Bit-exact port of ggml's <c>quantize_row_q5_1_ref</c>: per block min and max, d = (max - min) / 31 and
    /// m = min (both stored as fp16), id = 1 / d from the float d, q = (uint8)((x - min) * id + 0.5f) (no clamp,
    /// as in ggml).
    /// </summary>
    public static void QuantizeRow(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = RowArguments.BlockCount(source.Length, BlockSize, "Q5_1", nameof(source));
        RowArguments.RequireBytes(destination.Length, (long)blocks * BlockBytes, "Q5_1", nameof(destination));
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
                float d = (max - min) / 31f;
                float inverse = d != 0f ? 1f / d : 0f;
                Unsafe.WriteUnaligned(block, F16Format.FromSingle(d));
                Unsafe.WriteUnaligned(block + MinOffset, F16Format.FromSingle(min));
                byte* q = block + QuantsOffset;
                uint highBits = 0;
                for (int j = 0; j < BlockSize / 2; j++)
                {
                    int low = (byte)(int)((x[j] - min) * inverse + 0.5f);
                    int high = (byte)(int)((x[j + BlockSize / 2] - min) * inverse + 0.5f);
                    q[j] = (byte)((low & 0x0F) | ((high & 0x0F) << 4));
                    highBits |= (uint)((low & 0x10) >> 4) << j;
                    highBits |= (uint)((high & 0x10) >> 4) << (j + BlockSize / 2);
                }
                Unsafe.WriteUnaligned(block + HighBitsOffset, highBits);
            }
        }
    }

    /// <summary>ggml's dequantize_row_q5_1: y[j] = (nibble | high bit j &lt;&lt; 4) * d + m.</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = RowArguments.BlockCount(destination.Length, BlockSize, "Q5_1", nameof(destination));
        RowArguments.RequireBytes(source.Length, (long)blocks * BlockBytes, "Q5_1", nameof(source));
        fixed (byte* src = source)
        fixed (float* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                byte* block = src + b * BlockBytes;
                float d = Q8_0Format.Scale(block);
                float m = Q8_0Format.Scale(block + MinOffset);
                uint highBits = LegacyQuantVectors.HighBits(block + HighBitsOffset);
                byte* q = block + QuantsOffset;
                float* y = dst + b * BlockSize;
                for (int j = 0; j < BlockSize / 2; j++)
                {
                    y[j] = Q5_0Format.Low(q, highBits, j) * d + m;
                    y[j + BlockSize / 2] = Q5_0Format.High(q, highBits, j) * d + m;
                }
            }
        }
    }

    /// <summary>Dot product of a Q5_1 weight row with a Q8_1 activation row at <see cref="SimdCapabilities.BestForInt8"/>.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns) =>
        Dot(weights, activations, columns, SimdCapabilities.BestForInt8);

    /// <summary>Dot product at a chosen <paramref name="level"/>; <paramref name="activations"/> is a Q8_1 row.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns, SimdLevel level)
    {
        return RowArguments.Dot(weights, activations, columns, BlockSize, "Q5_1", BlockBytes, "Q8_1", Q8_1Format.BlockBytes, DotKernel(level));
    }

    /// <summary>
    /// The row kernel for <paramref name="level"/>: (weight row, Q8_1 activation row, columns) -> dot.
    /// Vector512 runs the AVX2 kernel: ggml's x86 q5_1 dot is AVX2-only, so that keeps its summation order.
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
    /// Reference (ggml_vec_dot_q5_1_q8_1 generic): per block (d_w * d_x) * Σ q_w q_x + m_w * s_x, summed in float.
    /// </summary>
    internal static float DotScalar(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        float sum = 0f;
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            byte* ab = activations + b * Q8_1Format.BlockBytes;
            uint highBits = LegacyQuantVectors.HighBits(wb + HighBitsOffset);
            byte* wq = wb + QuantsOffset;
            sbyte* aq = (sbyte*)(ab + Q8_1Format.QuantsOffset);
            int lowSum = 0, highSum = 0;
            for (int j = 0; j < BlockSize / 2; j++)
            {
                lowSum += Q5_0Format.Low(wq, highBits, j) * aq[j];
                highSum += Q5_0Format.High(wq, highBits, j) * aq[j + BlockSize / 2];
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
            var (lowBits, highBits) = LegacyQuantVectors.FifthBits128(LegacyQuantVectors.HighBits(wb + HighBitsOffset));
            Vector128<byte> packed = Vector128.Load(wb + QuantsOffset);
            Vector128<sbyte> low = ((packed & lowMask) | lowBits).AsSByte();
            Vector128<sbyte> high = (((packed.AsUInt16() >> 4).AsByte() & lowMask) | highBits).AsSByte();
            Vector128<int> sums = LegacyQuantVectors.MulSumBlock128(low, high, (sbyte*)(ab + Q8_1Format.QuantsOffset));
            acc = Vector128.MultiplyAddEstimate(Vector128.ConvertToSingle(sums),
                Vector128.Create(Q8_0Format.Scale(wb) * Q8_1Format.Scale(ab)), acc);
            offsets += Q8_0Format.Scale(wb + MinOffset) * Q8_1Format.ScaledSum(ab);
        }
        return Vector128.Sum(acc) + offsets;
    }

    /// <summary>
    /// AVX2, the same instruction sequence and summation order as ggml's x86 vec_dot_q5_1_q8_1: unsigned 5-bit
    /// quants times signed activations, fmadd(q, d_w * d_x, acc), the m * s terms in a separate float added last.
    /// </summary>
    internal static float DotVector256(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        Vector256<float> acc = Vector256<float>.Zero;
        Vector256<byte> fifthBit = Vector256.Create((byte)0x10);
        float offsets = 0f;
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            byte* ab = activations + b * Q8_1Format.BlockBytes;
            Vector256<float> weightScale = Vector256.Create(Q8_0Format.Scale(wb));
            offsets += Q8_0Format.Scale(wb + MinOffset) * Q8_1Format.ScaledSum(ab);
            Vector256<byte> quants = LegacyQuantVectors.Nibbles(wb + QuantsOffset) |
                                     (LegacyQuantVectors.BitsToBytes(wb + HighBitsOffset) & fifthBit);
            Vector256<float> activationScale = Vector256.Create(Q8_1Format.Scale(ab));
            Vector256<float> products = LegacyQuantVectors.MulSumUnsignedPairs(
                quants, Vector256.Load((sbyte*)(ab + Q8_1Format.QuantsOffset)));
            acc = Fma.MultiplyAdd(products, weightScale * activationScale, acc);
        }
        return Int8Dot.HorizontalSum(acc) + offsets;
    }
}
