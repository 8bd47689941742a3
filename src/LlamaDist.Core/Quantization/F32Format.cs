using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// GGML_TYPE_F32: plain little-endian IEEE single floats, 4 bytes per element. Its activation partner is F32,
/// so a row dot is an ordinary float dot product.
/// </summary>
public static unsafe class F32Format
{
    /// <summary>Elements per block (plain types have blocks of one).</summary>
    public const int BlockSize = 1;

    /// <summary>Bytes per block.</summary>
    public const int BlockBytes = 4;

    /// <summary>Copies <paramref name="source"/> into <paramref name="destination"/> as raw float bytes.</summary>
    public static void QuantizeRow(ReadOnlySpan<float> source, Span<byte> destination)
    {
        RowArguments.RequireBytes(destination.Length, (long)source.Length * BlockBytes, "F32", nameof(destination));
        MemoryMarshal.AsBytes(source).CopyTo(destination);
    }

    /// <summary>Reads <c>destination.Length</c> floats from the raw bytes of <paramref name="source"/>.</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination)
    {
        RowArguments.RequireBytes(source.Length, (long)destination.Length * BlockBytes, "F32", nameof(source));
        source[..(destination.Length * BlockBytes)].CopyTo(MemoryMarshal.AsBytes(destination));
    }

    /// <summary>Dot product of <paramref name="columns"/> F32 weights with F32 activations, best SIMD level.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns) =>
        Dot(weights, activations, columns, SimdCapabilities.Best);

    /// <summary>Dot product at a chosen <paramref name="level"/> (tests compare every level with the scalar one).</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns, SimdLevel level)
    {
        return RowArguments.Dot(weights, activations, columns, BlockSize, "F32", BlockBytes, "F32", BlockBytes, DotKernel(level));
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

    /// <summary>Reference: products summed left to right in float.</summary>
    internal static float DotScalar(byte* weights, byte* activations, int columns)
    {
        float* w = (float*)weights;
        float* a = (float*)activations;
        float sum = 0f;
        for (int i = 0; i < columns; i++)
        {
            sum += w[i] * a[i];
        }
        return sum;
    }

    internal static float DotVector128(byte* weights, byte* activations, int columns)
    {
        float* w = (float*)weights;
        float* a = (float*)activations;
        Vector128<float> acc0 = Vector128<float>.Zero, acc1 = Vector128<float>.Zero;
        int i = 0;
        for (; i + 8 <= columns; i += 8)
        {
            acc0 = Vector128.MultiplyAddEstimate(Vector128.Load(w + i), Vector128.Load(a + i), acc0);
            acc1 = Vector128.MultiplyAddEstimate(Vector128.Load(w + i + 4), Vector128.Load(a + i + 4), acc1);
        }
        return Vector128.Sum(acc0 + acc1) + TailScalar(w, a, i, columns);
    }

    /// <summary>
    /// ggml_vec_dot_f32 on AVX2: 32 elements per step into four FMA accumulators (element i + 8j into
    /// accumulator j), GGML_F32x8_REDUCE, then the remaining n mod 32 products added in float.
    /// </summary>
    internal static float DotVector256(byte* weights, byte* activations, int columns)
    {
        float* w = (float*)weights;
        float* a = (float*)activations;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        int i = 0;
        for (; i + 32 <= columns; i += 32)
        {
            acc0 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i), Vector256.Load(a + i), acc0);
            acc1 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i + 8), Vector256.Load(a + i + 8), acc1);
            acc2 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i + 16), Vector256.Load(a + i + 16), acc2);
            acc3 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i + 24), Vector256.Load(a + i + 24), acc3);
        }
        float sum = GgmlReductions.F32x8(acc0, acc1, acc2, acc3);
        for (; i < columns; i++)
        {
            sum += w[i] * a[i];
        }
        return sum;
    }

    /// <summary>ggml_vec_dot_f32 on AVX-512: 64 per step into four 16-lane accumulators, GGML_F32x16_REDUCE.</summary>
    internal static float DotVector512(byte* weights, byte* activations, int columns)
    {
        float* w = (float*)weights;
        float* a = (float*)activations;
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
        Vector512<float> acc2 = Vector512<float>.Zero, acc3 = Vector512<float>.Zero;
        int i = 0;
        for (; i + 64 <= columns; i += 64)
        {
            acc0 = Vector512.FusedMultiplyAdd(Vector512.Load(w + i), Vector512.Load(a + i), acc0);
            acc1 = Vector512.FusedMultiplyAdd(Vector512.Load(w + i + 16), Vector512.Load(a + i + 16), acc1);
            acc2 = Vector512.FusedMultiplyAdd(Vector512.Load(w + i + 32), Vector512.Load(a + i + 32), acc2);
            acc3 = Vector512.FusedMultiplyAdd(Vector512.Load(w + i + 48), Vector512.Load(a + i + 48), acc3);
        }
        float sum = GgmlReductions.F32x16(acc0, acc1, acc2, acc3);
        for (; i < columns; i++)
        {
            sum += w[i] * a[i];
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float TailScalar(float* w, float* a, int start, int end)
    {
        float sum = 0f;
        for (int i = start; i < end; i++)
        {
            sum += w[i] * a[i];
        }
        return sum;
    }
}
