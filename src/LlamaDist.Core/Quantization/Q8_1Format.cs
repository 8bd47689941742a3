using System.Runtime.CompilerServices;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// GGML_TYPE_Q8_1: blocks of 32 elements, each <c>{ half d; half s; int8 qs[32]; }</c> = 36 bytes, value =
/// qs[j] * d, and s = d * Σ qs (the block sum, so a weight format with an offset m can add m * s once per block).
/// Used only as the activation partner of Q4_1 and Q5_1 weights: never a weight type of its own here.
/// </summary>
public static unsafe class Q8_1Format
{
    /// <summary>Elements per block (QK8_1).</summary>
    public const int BlockSize = 32;

    /// <summary>Bytes per block: fp16 scale + fp16 scaled sum + 32 signed bytes.</summary>
    public const int BlockBytes = 4 + BlockSize;

    /// <summary>Byte offset of the fp16 s = d * Σ qs.</summary>
    public const int SumOffset = 2;

    /// <summary>Byte offset of the quants inside a block (after d and s).</summary>
    public const int QuantsOffset = 4;

    /// <summary>
    /// Bit-exact port of ggml's <c>quantize_row_q8_1_ref</c>: d = amax / 127 (stored as fp16), q = roundf(x / d)
    /// (ties away from zero, 1 / d from the float d), s = fp16(Σ q * d) with the float d.
    /// </summary>
    public static void QuantizeRow(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = RowArguments.BlockCount(source.Length, BlockSize, "Q8_1", nameof(source));
        RowArguments.RequireBytes(destination.Length, (long)blocks * BlockBytes, "Q8_1", nameof(destination));
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
                sbyte* q = (sbyte*)(block + QuantsOffset);
                int sum = 0;
                for (int j = 0; j < BlockSize; j++)
                {
                    q[j] = (sbyte)MathF.Round(x[j] * inverse, MidpointRounding.AwayFromZero);
                    sum += q[j];
                }
                Unsafe.WriteUnaligned(block, F16Format.FromSingle(d));
                Unsafe.WriteUnaligned(block + SumOffset, F16Format.FromSingle(sum * d));
            }
        }
    }

    /// <summary>
    /// Quantizes an activation row the way llama.cpp's CPU backend does before a Q4_1/Q5_1 matmul on x86
    /// (<c>quantize_row_q8_1</c>, AVX2 branch): d = amax / 127 stored as fp16, multiplier 127 / amax, round to
    /// nearest even, s = fp16(d * Σ q) with the float d. Like the Q8_0 activation quantizer this can differ from
    /// <see cref="QuantizeRow"/> in the last bit of some quants.
    /// </summary>
    public static void QuantizeActivationRow(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = RowArguments.BlockCount(source.Length, BlockSize, "Q8_1", nameof(source));
        RowArguments.RequireBytes(destination.Length, (long)blocks * BlockBytes, "Q8_1", nameof(destination));
        fixed (float* x = source)
        fixed (byte* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                float* xb = x + b * BlockSize;
                byte* block = dst + b * BlockBytes;
                float amax = 0f;
                for (int j = 0; j < BlockSize; j++)
                {
                    amax = MathF.Max(amax, MathF.Abs(xb[j]));
                }
                float d = amax / 127f;
                float multiplier = amax != 0f ? 127f / amax : 0f;
                sbyte* q = (sbyte*)(block + QuantsOffset);
                int sum = 0;
                for (int j = 0; j < BlockSize; j++)
                {
                    // ggml sums the int32 values before the saturating pack; they never exceed 127 in magnitude.
                    int rounded = (int)MathF.Round(xb[j] * multiplier, MidpointRounding.ToEven);
                    sum += rounded;
                    q[j] = (sbyte)Math.Clamp(rounded, -128, 127);
                }
                Unsafe.WriteUnaligned(block, F16Format.FromSingle(d));
                Unsafe.WriteUnaligned(block + SumOffset, F16Format.FromSingle(d * sum));
            }
        }
    }

    /// <summary>y = qs[j] * d (s is redundant for decoding).</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = RowArguments.BlockCount(destination.Length, BlockSize, "Q8_1", nameof(destination));
        RowArguments.RequireBytes(source.Length, (long)blocks * BlockBytes, "Q8_1", nameof(source));
        fixed (byte* src = source)
        fixed (float* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                byte* block = src + b * BlockBytes;
                float d = Scale(block);
                sbyte* q = (sbyte*)(block + QuantsOffset);
                float* y = dst + b * BlockSize;
                for (int j = 0; j < BlockSize; j++)
                {
                    y[j] = q[j] * d;
                }
            }
        }
    }

    /// <summary>The fp16 scale d of a block, as float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Scale(byte* block) => F16Format.ToSingle(Unsafe.ReadUnaligned<ushort>(block));

    /// <summary>The fp16 s = d * Σ qs of a block, as float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float ScaledSum(byte* block) => F16Format.ToSingle(Unsafe.ReadUnaligned<ushort>(block + SumOffset));
}
