using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Many horizontal sums at once, each bit for bit the float its one-vector reduction gives: sixteen
/// <see cref="GgmlReductions.ReduceAdd"/> (AVX-512) or eight <see cref="Int8Dot.HorizontalSum"/> (AVX2) from
/// accumulators stored one after the other. A GEMM ends every output with such a sum (a 128-token batch of a
/// 2048-row matrix: 262,144 of them); one at a time each costs two extracts, two vector adds and three scalar
/// adds with their shuffles. Here each step of the tree is done for all the vectors together: pairs of vectors
/// are shuffled so that one vector add performs that step for two of them, halving the vectors until one holds
/// every result, so sixteen sums take 15 adds and 31 shuffles instead of about 150 instructions.
/// <para>Every add pairs the same two operands as the one-vector tree, in the same operand order (so even a
/// NaN's payload is the same), hence the same float.</para>
/// </summary>
internal static unsafe class TransposedReductions
{
    /// <summary>
    /// destination[i] = ReduceAdd(vectors[16 i .. 16 i + 16]) for i in [0, 16): sixteen 16-float vectors in a row
    /// (64-byte aligned or not) into sixteen floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ReduceAdd16(float* vectors, float* destination)
    {
        // Step 1, high 256 + low 256: one add per pair of vectors; lanes 0-7 serve the first, 8-15 the second.
        Vector512<float> h0 = High256PlusLow256(vectors, 0), h1 = High256PlusLow256(vectors, 2);
        Vector512<float> h2 = High256PlusLow256(vectors, 4), h3 = High256PlusLow256(vectors, 6);
        Vector512<float> h4 = High256PlusLow256(vectors, 8), h5 = High256PlusLow256(vectors, 10);
        Vector512<float> h6 = High256PlusLow256(vectors, 12), h7 = High256PlusLow256(vectors, 14);

        // Step 2, high 128 + low 128 of each half: 128-bit lane k of q_m is the quarter of vector 4m + k.
        Vector512<float> q0 = High128PlusLow128(h0, h1), q1 = High128PlusLow128(h2, h3);
        Vector512<float> q2 = High128PlusLow128(h4, h5), q3 = High128PlusLow128(h6, h7);

        // Step 3, (0 + 2) and (1 + 3) of each quarter: lane k of s_n holds them for vectors 8n + k and 8n + 4 + k.
        Vector512<float> s0 = EvenPlusOddPairs(q0, q1), s1 = EvenPlusOddPairs(q2, q3);

        // Step 4, (0 + 2) + (1 + 3): element 4k + j of r is vector 4j + k's sum; a 4 x 4 transpose puts it in order.
        Vector512<float> r = Avx512F.Shuffle(s0, s1, 0b10_00_10_00) + Avx512F.Shuffle(s0, s1, 0b11_01_11_01);
        Avx512F.PermuteVar16x32(r, Vector512.Create(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15))
            .Store(destination);
    }

    /// <summary>
    /// destination[i] = HorizontalSum(vectors[8 i .. 8 i + 8]) for i in [0, 8): eight 8-float vectors in a row into
    /// eight floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void HorizontalSum8(float* vectors, float* destination)
    {
        // Step 1, upper 128 + lower 128: lanes 0-3 serve the first vector of a pair, 4-7 the second.
        Vector256<float> f0 = Upper128PlusLower128(vectors, 0), f1 = Upper128PlusLower128(vectors, 2);
        Vector256<float> f2 = Upper128PlusLower128(vectors, 4), f3 = Upper128PlusLower128(vectors, 6);

        // Step 2, (0 + 2) and (1 + 3): lane k of s_m holds them for vectors 4m + k and 4m + 2 + k.
        Vector256<float> s0 = Avx.Shuffle(f0, f1, 0b01_00_01_00) + Avx.Shuffle(f0, f1, 0b11_10_11_10);
        Vector256<float> s1 = Avx.Shuffle(f2, f3, 0b01_00_01_00) + Avx.Shuffle(f2, f3, 0b11_10_11_10);

        // Step 3, (0 + 2) + (1 + 3): element 4k + j of r is vector 2j + k's sum.
        Vector256<float> r = Avx.Shuffle(s0, s1, 0b10_00_10_00) + Avx.Shuffle(s0, s1, 0b11_01_11_01);
        Avx2.PermuteVar8x32(r, Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).Store(destination);
    }

    /// <summary>
    /// destination[i] = the tail of GGML_F32x8_REDUCE (<see cref="GgmlReductions.F32x8"/> after its first two adds:
    /// t = low 128 + high 128, then (t0 + t1) + (t2 + t3)) of vectors[8 i .. 8 i + 8], for i in [0, 8).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void F32x8Tail8(float* vectors, float* destination)
    {
        // Step 1, low 128 + high 128 (low first, as F32x8 adds them): lanes 0-3 serve the first vector of a pair.
        Vector256<float> t0 = Lower128PlusUpper128(vectors, 0), t1 = Lower128PlusUpper128(vectors, 2);
        Vector256<float> t2 = Lower128PlusUpper128(vectors, 4), t3 = Lower128PlusUpper128(vectors, 6);

        // Step 2, (0 + 1) and (2 + 3): lane k of s_m holds them for vectors 4m + k and 4m + 2 + k.
        Vector256<float> s0 = Avx.Shuffle(t0, t1, 0b10_00_10_00) + Avx.Shuffle(t0, t1, 0b11_01_11_01);
        Vector256<float> s1 = Avx.Shuffle(t2, t3, 0b10_00_10_00) + Avx.Shuffle(t2, t3, 0b11_01_11_01);

        // Step 3, (0 + 1) + (2 + 3): element 4k + j of r is vector 2j + k's sum.
        Vector256<float> r = Avx.Shuffle(s0, s1, 0b10_00_10_00) + Avx.Shuffle(s0, s1, 0b11_01_11_01);
        Avx2.PermuteVar8x32(r, Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).Store(destination);
    }

    // [a.lower128, b.lower128] + [a.upper128, b.upper128] of vectors i and i + 1, lower first.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lower128PlusUpper128(float* vectors, int i)
    {
        Vector256<float> a = Vector256.Load(vectors + i * 8), b = Vector256.Load(vectors + i * 8 + 8);
        return Avx.Permute2x128(a, b, 0x20) + Avx.Permute2x128(a, b, 0x31);
    }

    // [a.low256, b.low256] and [a.high256, b.high256] of vectors i and i + 1, added high first as ReduceAdd does.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> High256PlusLow256(float* vectors, int i)
    {
        Vector512<float> a = Vector512.Load(vectors + i * 16), b = Vector512.Load(vectors + i * 16 + 16);
        return Avx512F.Shuffle4x128(a, b, 0b11_10_11_10) + Avx512F.Shuffle4x128(a, b, 0b01_00_01_00);
    }

    // The 128-bit lanes (1, 3) + (0, 2) of a and of b: the high quarter of each half first, as ReduceAdd does.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> High128PlusLow128(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle4x128(a, b, 0b11_01_11_01) + Avx512F.Shuffle4x128(a, b, 0b10_00_10_00);

    // Per 128-bit lane: [a0, a1, b0, b1] + [a2, a3, b2, b3].
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> EvenPlusOddPairs(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle(a, b, 0b01_00_01_00) + Avx512F.Shuffle(a, b, 0b11_10_11_10);

    // [a.lower128, b.lower128] and [a.upper128, b.upper128] of vectors i and i + 1, upper first.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Upper128PlusLower128(float* vectors, int i)
    {
        Vector256<float> a = Vector256.Load(vectors + i * 8), b = Vector256.Load(vectors + i * 8 + 8);
        return Avx.Permute2x128(a, b, 0x31) + Avx.Permute2x128(a, b, 0x20);
    }
}
