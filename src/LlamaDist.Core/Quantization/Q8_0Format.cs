using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// GGML_TYPE_Q8_0: blocks of 32 elements, each <c>{ half d; int8 qs[32]; }</c> = 34 bytes, value = qs[j] * d.
/// Q8_0 is also the activation partner of Q8_0 and Q4_0 weights.
/// </summary>
public static unsafe class Q8_0Format
{
    /// <summary>Elements per block (QK8_0).</summary>
    public const int BlockSize = 32;

    /// <summary>Bytes per block: fp16 scale + 32 signed bytes.</summary>
    public const int BlockBytes = 2 + BlockSize;

    /// <summary>Byte offset of the quants inside a block (after the fp16 scale).</summary>
    public const int QuantsOffset = 2;

    /// <summary>
    /// Bit-exact port of ggml's <c>quantize_row_q8_0_ref</c> (what llama-quantize writes): per block
    /// d = amax / 127 (stored as fp16), q = roundf(x * (1 / d)) with ties away from zero, 1 / d taken from the
    /// float d before it is rounded to fp16; an all-zero block gets d = 0 and q = 0.
    /// </summary>
    public static void QuantizeRow(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = RowArguments.BlockCount(source.Length, BlockSize, "Q8_0", nameof(source));
        RowArguments.RequireBytes(destination.Length, (long)blocks * BlockBytes, "Q8_0", nameof(destination));
        fixed (float* src = source)
        fixed (byte* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                float* x = src + b * BlockSize;
                byte* block = dst + b * BlockBytes;
                float amax = 0f;
                for (int j = 0; j < BlockSize; j++)
                {
                    amax = MathF.Max(amax, MathF.Abs(x[j]));
                }
                float d = amax / 127f;
                float inverse = d != 0f ? 1f / d : 0f;
                Unsafe.WriteUnaligned(block, F16Format.FromSingle(d));
                sbyte* q = (sbyte*)(block + QuantsOffset);
                for (int j = 0; j < BlockSize; j++)
                {
                    q[j] = (sbyte)MathF.Round(x[j] * inverse, MidpointRounding.AwayFromZero);
                }
            }
        }
    }

    /// <summary>
    /// Quantizes an activation row the way llama.cpp's CPU backend does before a Q8_0/Q4_0 matmul on x86
    /// (<c>quantize_row_q8_0</c>, AVX/AVX2 branch): d = amax / 127 stored as fp16, but the multiplier is
    /// 127 / amax and rounding is to nearest even. This differs from <see cref="QuantizeRow"/> in the last bit
    /// of some quants; matching it keeps our logits closest to llama.cpp's.
    /// </summary>
    public static void QuantizeActivationRow(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = RowArguments.BlockCount(source.Length, BlockSize, "Q8_0", nameof(source));
        RowArguments.RequireBytes(destination.Length, (long)blocks * BlockBytes, "Q8_0", nameof(destination));
        fixed (float* src = source)
        fixed (byte* dst = destination)
        {
            QuantizeActivationRow(src, dst, blocks);
        }
    }

    internal static void QuantizeActivationRow(float* source, byte* destination, int blocks)
    {
        for (int b = 0; b < blocks; b++)
        {
            float* x = source + b * BlockSize;
            byte* block = destination + b * BlockBytes;
            float amax = 0f;
            for (int j = 0; j < BlockSize; j++)
            {
                amax = MathF.Max(amax, MathF.Abs(x[j]));
            }
            Unsafe.WriteUnaligned(block, F16Format.FromSingle(amax / 127f));
            float multiplier = amax != 0f ? 127f / amax : 0f;
            sbyte* q = (sbyte*)(block + QuantsOffset);
            for (int j = 0; j < BlockSize; j++)
            {
                float rounded = MathF.Round(x[j] * multiplier, MidpointRounding.ToEven);
                q[j] = (sbyte)Math.Clamp(rounded, -128f, 127f);
            }
        }
    }

    /// <summary>ggml's dequantize_row_q8_0: y = qs[j] * d.</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = RowArguments.BlockCount(destination.Length, BlockSize, "Q8_0", nameof(destination));
        RowArguments.RequireBytes(source.Length, (long)blocks * BlockBytes, "Q8_0", nameof(source));
        fixed (byte* src = source)
        fixed (float* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                byte* block = src + b * BlockBytes;
                float d = F16Format.ToSingle(Unsafe.ReadUnaligned<ushort>(block));
                sbyte* q = (sbyte*)(block + QuantsOffset);
                float* y = dst + b * BlockSize;
                for (int j = 0; j < BlockSize; j++)
                {
                    y[j] = q[j] * d;
                }
            }
        }
    }

    /// <summary>Dot product of a Q8_0 weight row with a Q8_0 activation row at <see cref="SimdCapabilities.BestForInt8"/>.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns) =>
        Dot(weights, activations, columns, SimdCapabilities.BestForInt8);

    /// <summary>Dot product at a chosen <paramref name="level"/>.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns, SimdLevel level)
    {
        return RowArguments.Dot(weights, activations, columns, BlockSize, "Q8_0", BlockBytes, "Q8_0", BlockBytes, DotKernel(level));
    }

    /// <summary>The row kernel for <paramref name="level"/>: (weight row, activation row, columns) -> dot.</summary>
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

    /// <summary>Reference (ggml_vec_dot_q8_0_q8_0 generic): per block int sum * (d_w * d_x), summed in float.</summary>
    internal static float DotScalar(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        float sum = 0f;
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            byte* ab = activations + b * BlockBytes;
            sbyte* wq = (sbyte*)(wb + QuantsOffset);
            sbyte* aq = (sbyte*)(ab + QuantsOffset);
            int blockSum = 0;
            for (int j = 0; j < BlockSize; j++)
            {
                blockSum += wq[j] * aq[j];
            }
            sum += blockSum * (Scale(wb) * Scale(ab));
        }
        return sum;
    }

    internal static float DotVector128(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        Vector128<float> acc = Vector128<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            byte* wb = weights + b * BlockBytes;
            byte* ab = activations + b * BlockBytes;
            sbyte* wq = (sbyte*)(wb + QuantsOffset);
            sbyte* aq = (sbyte*)(ab + QuantsOffset);
            Vector128<int> sums = Int8Dot.MulSum(Vector128.Load(wq), Vector128.Load(aq)) +
                                  Int8Dot.MulSum(Vector128.Load(wq + 16), Vector128.Load(aq + 16));
            acc = Vector128.MultiplyAddEstimate(
                Vector128.ConvertToSingle(sums), Vector128.Create(Scale(wb) * Scale(ab)), acc);
        }
        return Vector128.Sum(acc);
    }

    /// <summary>AVX2, the same instruction sequence and summation order as ggml's x86 vec_dot_q8_0_q8_0.</summary>
    internal static float DotVector256(byte* weights, byte* activations, int columns)
    {
        int blocks = columns / BlockSize;
        Vector256<float> acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            acc = AccumulateBlock256(weights + b * BlockBytes, activations + b * BlockBytes, acc);
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
            byte* a0 = activations + b * BlockBytes, a1 = a0 + BlockBytes;
            Vector512<sbyte> wq = Vector512.Create(
                Vector256.Load((sbyte*)(w0 + QuantsOffset)), Vector256.Load((sbyte*)(w1 + QuantsOffset)));
            Vector512<sbyte> aq = Vector512.Create(
                Vector256.Load((sbyte*)(a0 + QuantsOffset)), Vector256.Load((sbyte*)(a1 + QuantsOffset)));
            Vector512<float> scales = Vector512.Create(
                Vector256.Create(Scale(w0) * Scale(a0)), Vector256.Create(Scale(w1) * Scale(a1)));
            acc = Vector512.FusedMultiplyAdd(scales, Int8Dot.MulSumPairs(wq, aq), acc);
        }
        Vector256<float> acc256 = acc.GetLower() + acc.GetUpper();
        if (b < blocks)
        {
            acc256 = AccumulateBlock256(weights + b * BlockBytes, activations + b * BlockBytes, acc256);
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
            even = AccumulateBlock256(weights + b * BlockBytes, activations + b * BlockBytes, even);
            odd = AccumulateBlock256(weights + (b + 1) * BlockBytes, activations + (b + 1) * BlockBytes, odd);
        }
        Vector256<float> acc256 = even + odd;
        if (b < blocks)
        {
            acc256 = AccumulateBlock256(weights + b * BlockBytes, activations + b * BlockBytes, acc256);
        }
        return Int8Dot.HorizontalSum(acc256);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> AccumulateBlock256(byte* wb, byte* ab, Vector256<float> acc)
    {
        Vector256<sbyte> wq = Vector256.Load((sbyte*)(wb + QuantsOffset));
        Vector256<sbyte> aq = Vector256.Load((sbyte*)(ab + QuantsOffset));
        Vector256<float> scale = Vector256.Create(Scale(wb) * Scale(ab));
        return Fma.MultiplyAdd(scale, Int8Dot.MulSumPairs(wq, aq), acc);
    }

    /// <summary>The fp16 scale d at the start of a block, as float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Scale(byte* block) => F16Format.ToSingle(Unsafe.ReadUnaligned<ushort>(block));
}
