using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Horizontal sums in the exact order ggml's x86 kernels use, so our float row dots round like llama.cpp's.
/// Float addition is not associative: the same accumulators summed in another order differ in the last bits,
/// and over a whole forward pass those bits can flip a greedy token.
/// </summary>
internal static class GgmlReductions
{
    /// <summary>
    /// GGML_F32x8_REDUCE over four accumulators (AVX/AVX2 ggml_vec_dot_f32 and ggml_vec_dot_f16):
    /// a0 += a2, a1 += a3, a0 += a1, then t = low + high and two hadds: (t0 + t1) + (t2 + t3).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float F32x8(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3)
    {
        Vector256<float> x = (a0 + a2) + (a1 + a3);
        Vector128<float> t = x.GetLower() + x.GetUpper();
        return (t.GetElement(0) + t.GetElement(1)) + (t.GetElement(2) + t.GetElement(3));
    }

    /// <summary>
    /// GGML_F32x16_REDUCE over four accumulators (AVX-512 builds): a0 += a2, a1 += a3, a0 += a1, then
    /// <see cref="ReduceAdd(Vector512{float})"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float F32x16(Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3) =>
        ReduceAdd((a0 + a2) + (a1 + a3));

    /// <summary>
    /// _mm512_reduce_add_ps as GCC expands it: high 256 + low 256, high 128 + low 128, then (0 + 2) + (1 + 3).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ReduceAdd(Vector512<float> x)
    {
        Vector256<float> half = x.GetUpper() + x.GetLower();
        Vector128<float> quarter = half.GetUpper() + half.GetLower();
        return (quarter.GetElement(0) + quarter.GetElement(2)) + (quarter.GetElement(1) + quarter.GetElement(3));
    }

    /// <summary>
    /// The AVX2 ggml_vec_dot_bf16 tail: (c1 + c3) + (c2 + c4), then hsum_float_8 order (high + low,
    /// then (0 + 2) + (1 + 3)).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Bf16x8(Vector256<float> c1, Vector256<float> c2, Vector256<float> c3, Vector256<float> c4) =>
        Int8Dot.HorizontalSum((c1 + c3) + (c2 + c4));
}
