using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// GGML_TYPE_Q4_0: blocks of 32 elements, each <c>{ half d; uint8 qs[16]; }</c> = 18 bytes. Element j &lt; 16 is
/// the low nibble of qs[j], element j &gt;= 16 the high nibble of qs[j - 16]; value = (nibble - 8) * d.
/// Its activation partner is Q8_0.
/// </summary>
public static unsafe class Q4_0Format
{
    /// <summary>Elements per block (QK4_0).</summary>
    public const int BlockSize = 32;

    /// <summary>Bytes per block: fp16 scale + 16 bytes of nibbles.</summary>
    public const int BlockBytes = 2 + BlockSize / 2;

    /// <summary>Byte offset of the nibbles inside a block (after the fp16 scale).</summary>
    public const int QuantsOffset = 2;

    /// <summary>
    /// Bit-exact port of ggml's <c>quantize_row_q4_0_ref</c>: per block take the value with the largest magnitude
    /// (its sign kept, the first one on ties), d = max / -8 (stored as fp16), id = 1 / d from the float d, and
    /// q = min(15, (int8)(x * id + 8.5f)) with C's truncating conversion.
    /// </summary>
    public static void QuantizeRow(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = RowArguments.BlockCount(source.Length, BlockSize, "Q4_0", nameof(source));
        RowArguments.RequireBytes(destination.Length, (long)blocks * BlockBytes, "Q4_0", nameof(destination));
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
                float d = max / -8f;
                float inverse = d != 0f ? 1f / d : 0f;
                Unsafe.WriteUnaligned(block, F16Format.FromSingle(d));
                byte* q = block + QuantsOffset;
                for (int j = 0; j < BlockSize / 2; j++)
                {
                    // C: uint8_t xi = MIN(15, (int8_t)(x * id + 8.5f)); qs[j] = xi0 | (xi1 << 4) (mod 256).
                    byte low = (byte)Math.Min(15, (int)(sbyte)(int)(x[j] * inverse + 8.5f));
                    byte high = (byte)Math.Min(15, (int)(sbyte)(int)(x[j + BlockSize / 2] * inverse + 8.5f));
                    q[j] = (byte)(low | (high << 4));
                }
            }
        }
    }

    /// <summary>ggml's dequantize_row_q4_0: y[j] = (low nibble - 8) * d, y[j + 16] = (high nibble - 8) * d.</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = RowArguments.BlockCount(destination.Length, BlockSize, "Q4_0", nameof(destination));
        RowArguments.RequireBytes(source.Length, (long)blocks * BlockBytes, "Q4_0", nameof(source));
        fixed (byte* src = source)
        fixed (float* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                byte* block = src + b * BlockBytes;
                float d = F16Format.ToSingle(Unsafe.ReadUnaligned<ushort>(block));
                byte* q = block + QuantsOffset;
                float* y = dst + b * BlockSize;
                for (int j = 0; j < BlockSize / 2; j++)
                {
                    y[j] = ((q[j] & 0x0F) - 8) * d;
                    y[j + BlockSize / 2] = ((q[j] >> 4) - 8) * d;
                }
            }
        }
    }

    /// <summary>Dot product of a Q4_0 weight row with a Q8_0 activation row at <see cref="SimdCapabilities.BestForInt8"/>.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns) =>
        Dot(weights, activations, columns, SimdCapabilities.BestForInt8);

    /// <summary>Dot product at a chosen <paramref name="level"/>; <paramref name="activations"/> is a Q8_0 row.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns, SimdLevel level)
    {
        return RowArguments.Dot(weights, activations, columns, BlockSize, "Q4_0", BlockBytes, "Q8_0", Q8_0Format.BlockBytes, DotKernel(level));
    }

    /// <summary>The row kernel for <paramref name="level"/>: (weight row, Q8_0 activation row, columns) -> dot.</summary>
    internal static delegate*<byte*, byte*, int, float> DotKernel(SimdLevel level)
    {
        SimdCapabilities.Require(level);
        return level switch
        {
            SimdLevel.Vector512 => &DotVector512,
            SimdLevel.Vector256 => &DotVector256,
            SimdLevel.Vector128 => &DotVector128,
            _ => &DotScalar,
        };
    }

    /// <summary>Reference (ggml_vec_dot_q4_0_q8_0 generic): per block int sum * d_w * d_x, summed in float.</summary>
    internal static float DotScalar(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        float sum = 0f;
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            byte* ab = activations + b * Q8_0Format.BlockBytes;
            byte* wq = wb + QuantsOffset;
            sbyte* aq = (sbyte*)(ab + Q8_0Format.QuantsOffset);
            int lowSum = 0, highSum = 0;
            for (int j = 0; j < BlockSize / 2; j++)
            {
                lowSum += ((wq[j] & 0x0F) - 8) * aq[j];
                highSum += ((wq[j] >> 4) - 8) * aq[j + BlockSize / 2];
            }
            sum += (lowSum + highSum) * Q8_0Format.Scale(wb) * Q8_0Format.Scale(ab);
        }
        return sum;
    }

    internal static float DotVector128(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        Vector128<float> acc = Vector128<float>.Zero;
        Vector128<byte> lowMask = Vector128.Create((byte)0x0F);
        Vector128<sbyte> offset = Vector128.Create((sbyte)8);
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            byte* ab = activations + b * Q8_0Format.BlockBytes;
            sbyte* aq = (sbyte*)(ab + Q8_0Format.QuantsOffset);
            Vector128<byte> packed = Vector128.Load(wb + QuantsOffset);
            Vector128<sbyte> low = (packed & lowMask).AsSByte() - offset;
            Vector128<sbyte> high = ((packed.AsUInt16() >> 4).AsByte() & lowMask).AsSByte() - offset;
            Vector128<int> sums = Int8Dot.MulSum(low, Vector128.Load(aq)) +
                                  Int8Dot.MulSum(high, Vector128.Load(aq + 16));
            acc = Vector128.MultiplyAddEstimate(
                Vector128.ConvertToSingle(sums),
                Vector128.Create(Q8_0Format.Scale(wb) * Q8_0Format.Scale(ab)), acc);
        }
        return Vector128.Sum(acc);
    }

    /// <summary>AVX2, the same instruction sequence and summation order as ggml's x86 vec_dot_q4_0_q8_0.</summary>
    internal static float DotVector256(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        Vector256<float> acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            acc = AccumulateBlock256(weights + b * BlockBytes, activations + b * Q8_0Format.BlockBytes, acc);
        }
        return Int8Dot.HorizontalSum(acc);
    }

    /// <summary>
    /// AVX-512BW: two blocks per 512-bit register, an odd last block through the AVX2 step. Where the CPU has
    /// AVX-VNNI (and .NET 10 offers no 512-bit vpdpbusd), <see cref="DotVector512AsHalves"/> gives the same bits
    /// faster.
    /// </summary>
    internal static float DotVector512(byte* weights, byte* activations, int columns)
    {
        return AvxVnni.IsSupported
            ? DotVector512AsHalves(weights, activations, columns)
            : DotVector512Wide(weights, activations, columns);
    }

    /// <summary><see cref="DotVector512"/> in 512-bit registers (CPUs without AVX-VNNI).</summary>
    internal static float DotVector512Wide(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        Vector512<float> acc = Vector512<float>.Zero;
        int b = 0;
        for (; b + 2 <= blocks; b += 2)
        {
            byte* w0 = weights + b * BlockBytes, w1 = w0 + BlockBytes;
            byte* a0 = activations + b * Q8_0Format.BlockBytes, a1 = a0 + Q8_0Format.BlockBytes;
            Vector512<sbyte> wq = Vector512.Create(Unpack(w0), Unpack(w1));
            Vector512<sbyte> aq = Vector512.Create(
                Vector256.Load((sbyte*)(a0 + Q8_0Format.QuantsOffset)),
                Vector256.Load((sbyte*)(a1 + Q8_0Format.QuantsOffset)));
            Vector512<float> scales = Vector512.Create(
                Vector256.Create(Q8_0Format.Scale(w0) * Q8_0Format.Scale(a0)),
                Vector256.Create(Q8_0Format.Scale(w1) * Q8_0Format.Scale(a1)));
            acc = Vector512.FusedMultiplyAdd(scales, Int8Dot.MulSumPairs(wq, aq), acc);
        }
        Vector256<float> acc256 = acc.GetLower() + acc.GetUpper();
        if (b < blocks)
        {
            acc256 = AccumulateBlock256(weights + b * BlockBytes, activations + b * Q8_0Format.BlockBytes, acc256);
        }
        return Int8Dot.HorizontalSum(acc256);
    }

    /// <summary>
    /// <see cref="DotVector512"/> as two 256-bit accumulators: even blocks in one (the 512-bit register's lanes
    /// 0-7), odd blocks in the other (lanes 8-15), each block through the AVX-VNNI step, then even + odd as the
    /// 512-bit version folds its halves: the same FMAs lane for lane, so the same result bit for bit. The
    /// 512-bit sequence needs vpabsb, a compare + subtract + blend for the missing vpsignb, vpmaddubsw and
    /// vpmaddwd per 64 pairs; this one needs vpabsb, vpsignb, vpdpbusd per 32 (docs/KERNELS.md).
    /// </summary>
    internal static float DotVector512AsHalves(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        Vector256<float> even = Vector256<float>.Zero, odd = Vector256<float>.Zero;
        int b = 0;
        for (; b + 2 <= blocks; b += 2)
        {
            even = AccumulateBlock256(weights + b * BlockBytes, activations + b * Q8_0Format.BlockBytes, even);
            odd = AccumulateBlock256(weights + (b + 1) * BlockBytes, activations + (b + 1) * Q8_0Format.BlockBytes, odd);
        }
        Vector256<float> acc256 = even + odd;
        if (b < blocks)
        {
            acc256 = AccumulateBlock256(weights + b * BlockBytes, activations + b * Q8_0Format.BlockBytes, acc256);
        }
        return Int8Dot.HorizontalSum(acc256);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> AccumulateBlock256(byte* wb, byte* ab, Vector256<float> acc)
    {
        Vector256<sbyte> aq = Vector256.Load((sbyte*)(ab + Q8_0Format.QuantsOffset));
        Vector256<float> scale = Vector256.Create(Q8_0Format.Scale(wb) * Q8_0Format.Scale(ab));
        return Fma.MultiplyAdd(scale, Int8Dot.MulSumPairs(Unpack(wb), aq), acc);
    }

    /// <summary>
    /// 16 packed bytes -> 32 signed values in element order: low nibbles (elements 0..15) in the lower 128 bits,
    /// high nibbles (16..31) in the upper, each minus 8 (ggml's bytes_from_nibbles_32 then sub 8).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Unpack(byte* block)
    {
        Vector128<byte> packed = Vector128.Load(block + QuantsOffset);
        Vector256<byte> nibbles = Vector256.Create(packed, (packed.AsUInt16() >> 4).AsByte()) &
                                  Vector256.Create((byte)0x0F);
        return nibbles.AsSByte() - Vector256.Create((sbyte)8);
    }
}
