using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// GGML_TYPE_Q5_0: blocks of 32 elements, each <c>{ half d; uint8 qh[4]; uint8 qs[16]; }</c> = 22 bytes. The
/// 5-bit quant of element j is its nibble (low nibble of qs[j] for j &lt; 16, high nibble of qs[j - 16] after)
/// plus bit j of the little-endian uint qh as bit 4; value = (q - 16) * d. Its activation partner is Q8_0.
/// </summary>
public static unsafe class Q5_0Format
{
    /// <summary>Elements per block (QK5_0).</summary>
    public const int BlockSize = 32;

    /// <summary>Bytes per block: fp16 scale + 4 bytes of high bits + 16 bytes of nibbles.</summary>
    public const int BlockBytes = 2 + 4 + BlockSize / 2;

    /// <summary>Byte offset of the 32 high bits (after the fp16 scale).</summary>
    public const int HighBitsOffset = 2;

    /// <summary>Byte offset of the nibbles inside a block.</summary>
    public const int QuantsOffset = 6;

    /// <summary>
    /// Bit-exact port of ggml's <c>quantize_row_q5_0_ref</c>: per block the value with the largest magnitude (sign
    /// kept, first on ties), d = max / -16 (stored as fp16), id = 1 / d from the float d, and
    /// q = min(31, (int8)(x * id + 16.5f)) with C's truncating conversion.
    /// </summary>
    public static void QuantizeRow(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = RowArguments.BlockCount(source.Length, BlockSize, "Q5_0", nameof(source));
        RowArguments.RequireBytes(destination.Length, (long)blocks * BlockBytes, "Q5_0", nameof(destination));
        fixed (float* src = source)
        fixed (byte* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                float* x = src + b * BlockSize;
                byte* block = dst + b * BlockBytes;
                float amax = 0f;
                float max = 0f;
                for (int j = 0; j < BlockSize; j++)
                {
                    float magnitude = MathF.Abs(x[j]);
                    if (amax < magnitude)
                    {
                        amax = magnitude;
                        max = x[j];
                    }
                }
                float d = max / -16f;
                float inverse = d != 0f ? 1f / d : 0f;
                Unsafe.WriteUnaligned(block, F16Format.FromSingle(d));
                byte* q = block + QuantsOffset;
                uint highBits = 0;
                for (int j = 0; j < BlockSize / 2; j++)
                {
                    // C: uint8_t xi = MIN(31, (int8_t)(x * id + 16.5f)).
                    int low = (byte)Math.Min(31, (int)(sbyte)(int)(x[j] * inverse + 16.5f));
                    int high = (byte)Math.Min(31, (int)(sbyte)(int)(x[j + BlockSize / 2] * inverse + 16.5f));
                    q[j] = (byte)((low & 0x0F) | ((high & 0x0F) << 4));
                    highBits |= (uint)((low & 0x10) >> 4) << j;
                    highBits |= (uint)((high & 0x10) >> 4) << (j + BlockSize / 2);
                }
                Unsafe.WriteUnaligned(block + HighBitsOffset, highBits);
            }
        }
    }

    /// <summary>ggml's dequantize_row_q5_0: y[j] = ((nibble | high bit j &lt;&lt; 4) - 16) * d.</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = RowArguments.BlockCount(destination.Length, BlockSize, "Q5_0", nameof(destination));
        RowArguments.RequireBytes(source.Length, (long)blocks * BlockBytes, "Q5_0", nameof(source));
        fixed (byte* src = source)
        fixed (float* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                byte* block = src + b * BlockBytes;
                float d = Q8_0Format.Scale(block);
                uint highBits = LegacyQuantVectors.HighBits(block + HighBitsOffset);
                byte* q = block + QuantsOffset;
                float* y = dst + b * BlockSize;
                for (int j = 0; j < BlockSize / 2; j++)
                {
                    y[j] = (Low(q, highBits, j) - 16) * d;
                    y[j + BlockSize / 2] = (High(q, highBits, j) - 16) * d;
                }
            }
        }
    }

    /// <summary>Unsigned 5-bit quant of element j (j &lt; 16) of a Q5 block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Low(byte* q, uint highBits, int j) => (q[j] & 0x0F) | (int)((highBits >> j) << 4 & 0x10);

    /// <summary>Unsigned 5-bit quant of element j + 16 (j &lt; 16) of a Q5 block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int High(byte* q, uint highBits, int j) => (q[j] >> 4) | (int)((highBits >> (j + 12)) & 0x10);

    /// <summary>Dot product of a Q5_0 weight row with a Q8_0 activation row at <see cref="SimdCapabilities.BestForInt8"/>.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns) =>
        Dot(weights, activations, columns, SimdCapabilities.BestForInt8);

    /// <summary>Dot product at a chosen <paramref name="level"/>; <paramref name="activations"/> is a Q8_0 row.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns, SimdLevel level)
    {
        return RowArguments.Dot(weights, activations, columns, BlockSize, "Q5_0", BlockBytes, "Q8_0", Q8_0Format.BlockBytes, DotKernel(level));
    }

    /// <summary>
    /// The row kernel for <paramref name="level"/>: (weight row, Q8_0 activation row, columns) -> dot.
    /// Vector512 runs the AVX2 kernel: ggml's x86 q5_0 dot is AVX2-only, so that keeps its summation order.
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

    /// <summary>Reference (ggml_vec_dot_q5_0_q8_0 generic): per block (d_w * d_x) * Σ (q_w - 16) q_x, summed in float.</summary>
    internal static float DotScalar(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        float sum = 0f;
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            byte* ab = activations + b * Q8_0Format.BlockBytes;
            uint highBits = LegacyQuantVectors.HighBits(wb + HighBitsOffset);
            byte* wq = wb + QuantsOffset;
            sbyte* aq = (sbyte*)(ab + Q8_0Format.QuantsOffset);
            int lowSum = 0, highSum = 0;
            for (int j = 0; j < BlockSize / 2; j++)
            {
                lowSum += (Low(wq, highBits, j) - 16) * aq[j];
                highSum += (High(wq, highBits, j) - 16) * aq[j + BlockSize / 2];
            }
            sum += Q8_0Format.Scale(wb) * Q8_0Format.Scale(ab) * (lowSum + highSum);
        }
        return sum;
    }

    internal static float DotVector128(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        Vector128<float> acc = Vector128<float>.Zero;
        Vector128<byte> lowMask = Vector128.Create((byte)0x0F);
        Vector128<sbyte> offset = Vector128.Create((sbyte)16);
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            byte* ab = activations + b * Q8_0Format.BlockBytes;
            var (lowBits, highBits) = LegacyQuantVectors.FifthBits128(LegacyQuantVectors.HighBits(wb + HighBitsOffset));
            Vector128<byte> packed = Vector128.Load(wb + QuantsOffset);
            Vector128<sbyte> low = ((packed & lowMask) | lowBits).AsSByte() - offset;
            Vector128<sbyte> high = (((packed.AsUInt16() >> 4).AsByte() & lowMask) | highBits).AsSByte() - offset;
            Vector128<int> sums = LegacyQuantVectors.MulSumBlock128(low, high, (sbyte*)(ab + Q8_0Format.QuantsOffset));
            acc = Vector128.MultiplyAddEstimate(Vector128.ConvertToSingle(sums),
                Vector128.Create(Q8_0Format.Scale(wb) * Q8_0Format.Scale(ab)), acc);
        }
        return Vector128.Sum(acc);
    }

    /// <summary>
    /// AVX2, the same instruction sequence and summation order as ggml's x86 vec_dot_q5_0_q8_0: nibbles OR 0xF0
    /// where the high bit is clear gives q - 16 as a signed byte, then the signed int8 pair dot.
    /// </summary>
    internal static float DotVector256(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        Vector256<float> acc = Vector256<float>.Zero;
        Vector256<byte> highNibble = Vector256.Create((byte)0xF0);
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            byte* ab = activations + b * Q8_0Format.BlockBytes;
            Vector256<float> scale = Vector256.Create(Q8_0Format.Scale(wb) * Q8_0Format.Scale(ab));
            Vector256<byte> bits = LegacyQuantVectors.BitsToBytes(wb + HighBitsOffset);
            Vector256<sbyte> quants = (LegacyQuantVectors.Nibbles(wb + QuantsOffset) |
                                       Vector256.AndNot(highNibble, bits)).AsSByte();
            Vector256<sbyte> aq = Vector256.Load((sbyte*)(ab + Q8_0Format.QuantsOffset));
            acc = Fma.MultiplyAdd(scale, Int8Dot.MulSumPairs(quants, aq), acc);
        }
        return Int8Dot.HorizontalSum(acc);
    }
}
