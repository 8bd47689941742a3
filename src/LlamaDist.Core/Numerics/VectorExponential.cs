using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Numerics;

/// <summary>
/// exp(x) for float vectors with the arithmetic of ggml's CPU backend at each vector width, so softmax and SiLU
/// round as llama.cpp's do on the same machine. The method is the one ggml adapted from Arm's optimized routines:
/// n = round(x / ln 2) by the 1.5 * 2^23 shifter, b = x - n * ln 2 in two parts, a degree-5 polynomial for
/// exp(b) - 1, then the result scaled by 2^n (maximum error about 1.5 ulp; above 88.38 gives infinity, below
/// -103.97 zero).
/// <para>
/// The widths do not give the same bits, which is why this class exists: the 128- and 256-bit forms compute
/// <c>k + k * p</c> in one fused step with k = 2^n built from the shifter's bits (and a split scale where |n| &gt;
/// 126), while the 512-bit form rounds <c>1 + p</c> first and scales it with <c>vscalefps</c>. An exp that is
/// right to half an ulp (MathF.Exp) still differs from both in the last bit now and then, and one such bit before
/// an activation is quantized to 8 bits can tip a rounding tie: a logit difference of about 0.1 instead of 0.
/// </para>
/// </summary>
public static class VectorExponential
{
    /// <summary>
    /// The width llama.cpp's own build for this CPU uses: 512-bit where the CPU has AVX-512F and DQ (ggml's
    /// condition for its 512-bit form) and the engine runs 512-bit kernels, else 256-bit with AVX2 and FMA, else
    /// 128-bit, else scalar (expf).
    /// </summary>
    public static SimdLevel Level { get; } =
        SimdCapabilities.Best == SimdLevel.Vector512 && Avx512DQ.IsSupported ? SimdLevel.Vector512
        : SimdCapabilities.IsSupported(SimdLevel.Vector256) ? SimdLevel.Vector256
        : SimdCapabilities.IsSupported(SimdLevel.Vector128) ? SimdLevel.Vector128
        : SimdLevel.Scalar;

    /// <summary>Whether the 128-bit form fuses its multiply-adds (FMA on x86, always on Arm), as ggml's build for that CPU does.</summary>
    private static readonly bool Fused128 = Fma.IsSupported || AdvSimd.IsSupported;

    // The constants as ggml writes them in hexadecimal float notation, by their bits.
    private static float Bits(uint bits) => BitConverter.UInt32BitsToSingle(bits);

    private static readonly float Shifter = Bits(0x4B400000);          // 0x1.8p23: adding it rounds to an integer
    private static readonly float Log2E = Bits(0x3FB8AA3B);            // 0x1.715476p+0
    private static readonly float Ln2High = Bits(0x3F317200);          // 0x1.62e4p-1
    private static readonly float Ln2Low = Bits(0x35BFBE8E);           // 0x1.7f7d1cp-20
    private static readonly float C5 = Bits(0x3C072010);               // 0x1.0e4020p-7
    private static readonly float C4 = Bits(0x3D2B9F17);               // 0x1.573e2ep-5
    private static readonly float C3 = Bits(0x3E2AAF33);               // 0x1.555e66p-3
    private static readonly float C2 = Bits(0x3EFFFEDB);               // 0x1.fffdb6p-2
    private static readonly float C1 = Bits(0x3F7FFFF6);               // 0x1.ffffecp-1

    /// <summary>ggml's 512-bit exp (AVX-512F + DQ builds).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        Vector512<float> shifter = Vector512.Create(Shifter);
        Vector512<float> z = Avx512F.FusedMultiplyAdd(x, Vector512.Create(Log2E), shifter);
        Vector512<float> n = z - shifter;
        Vector512<float> b = Avx512F.FusedMultiplyAddNegated(n, Vector512.Create(Ln2Low),
            Avx512F.FusedMultiplyAddNegated(n, Vector512.Create(Ln2High), x));
        Vector512<float> u = b * b;
        Vector512<float> j = Avx512F.FusedMultiplyAdd(
            Avx512F.FusedMultiplyAdd(Avx512F.FusedMultiplyAdd(Vector512.Create(C5), b, Vector512.Create(C4)), u,
                Avx512F.FusedMultiplyAdd(Vector512.Create(C3), b, Vector512.Create(C2))),
            u, Avx512F.FusedMultiplyAdd(Vector512.Create(C1), b, Vector512.Create(1f)));
        Vector512<float> result = Avx512F.Scale(j, n);
        Vector512<float> outOfRange = Vector512.GreaterThan(Vector512.Abs(n), Vector512.Create(192f));
        if (Vector512.ExtractMostSignificantBits(outOfRange) == 0)
        {
            return result;
        }
        Vector512<float> saturated = Vector512.ConditionalSelect(Vector512.LessThanOrEqual(n, Vector512<float>.Zero),
            Vector512<float>.Zero, Vector512.Create(float.PositiveInfinity));
        return Vector512.ConditionalSelect(outOfRange, saturated, result);
    }

    /// <summary>ggml's 256-bit exp (AVX2 + FMA builds).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        Vector256<float> shifter = Vector256.Create(Shifter);
        Vector256<float> z = Fma.MultiplyAdd(x, Vector256.Create(Log2E), shifter);
        Vector256<float> n = z - shifter;
        Vector256<float> b = Fma.MultiplyAddNegated(n, Vector256.Create(Ln2Low),
            Fma.MultiplyAddNegated(n, Vector256.Create(Ln2High), x));
        Vector256<int> e = Vector256.ShiftLeft(z.AsInt32(), 23);
        Vector256<float> k = (e + Vector256.Create(1f).AsInt32()).AsSingle();
        Vector256<float> large = Vector256.GreaterThan(Vector256.Abs(n), Vector256.Create(126f));
        Vector256<float> u = b * b;
        Vector256<float> j = Fma.MultiplyAdd(
            Fma.MultiplyAdd(Fma.MultiplyAdd(Vector256.Create(C5), b, Vector256.Create(C4)), u,
                Fma.MultiplyAdd(Vector256.Create(C3), b, Vector256.Create(C2))),
            u, Vector256.Create(C1) * b);
        if (Vector256.ExtractMostSignificantBits(large) == 0)
        {
            return Fma.MultiplyAdd(j, k, k);
        }
        // |n| > 126: 2^n does not fit one float, so it is applied as s1 * s2 (and saturates beyond 192).
        Vector256<int> g = Vector256.LessThanOrEqual(n, Vector256<float>.Zero).AsInt32() & Vector256.Create(unchecked((int)0x82000000));
        Vector256<float> s1 = (g + Vector256.Create(0x7F000000)).AsSingle();
        Vector256<float> s2 = (e - g).AsSingle();
        Vector256<float> beyond = Vector256.GreaterThan(Vector256.Abs(n), Vector256.Create(192f));
        return Vector256.ConditionalSelect(beyond, s1 * s1,
            Vector256.ConditionalSelect(large, Fma.MultiplyAdd(s2, j, s2) * s1, Fma.MultiplyAdd(k, j, k)));
    }

    /// <summary>ggml's 128-bit exp (SSE2 builds, fused where the CPU has FMA; NEON).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Exp(Vector128<float> x)
    {
        Vector128<float> shifter = Vector128.Create(Shifter);
        Vector128<float> z = MultiplyAdd(x, Vector128.Create(Log2E), shifter);
        Vector128<float> n = z - shifter;
        Vector128<float> b = MultiplySubtract(n, Vector128.Create(Ln2Low), MultiplySubtract(n, Vector128.Create(Ln2High), x));
        Vector128<int> e = Vector128.ShiftLeft(z.AsInt32(), 23);
        Vector128<float> k = (e + Vector128.Create(1f).AsInt32()).AsSingle();
        Vector128<float> large = Vector128.GreaterThan(Vector128.Abs(n), Vector128.Create(126f));
        Vector128<float> u = b * b;
        Vector128<float> j = MultiplyAdd(
            MultiplyAdd(MultiplyAdd(Vector128.Create(C5), b, Vector128.Create(C4)), u,
                MultiplyAdd(Vector128.Create(C3), b, Vector128.Create(C2))),
            u, Vector128.Create(C1) * b);
        if (Vector128.ExtractMostSignificantBits(large) == 0)
        {
            return MultiplyAdd(j, k, k);
        }
        Vector128<int> g = Vector128.LessThanOrEqual(n, Vector128<float>.Zero).AsInt32() & Vector128.Create(unchecked((int)0x82000000));
        Vector128<float> s1 = (g + Vector128.Create(0x7F000000)).AsSingle();
        Vector128<float> s2 = (e - g).AsSingle();
        Vector128<float> beyond = Vector128.GreaterThan(Vector128.Abs(n), Vector128.Create(192f));
        return Vector128.ConditionalSelect(beyond, s1 * s1,
            Vector128.ConditionalSelect(large, MultiplyAdd(s2, j, s2) * s1, MultiplyAdd(k, j, k)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> MultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) =>
        Fused128 ? Vector128.FusedMultiplyAdd(a, b, c) : a * b + c;

    /// <summary>c - a * b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> MultiplySubtract(Vector128<float> a, Vector128<float> b, Vector128<float> c) =>
        Fused128 ? Vector128.FusedMultiplyAdd(-a, b, c) : c - a * b;

    /// <summary>ggml's horizontal sum of an exp vector in its softmax (the order its 256- and 512-bit builds add in).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> v) => Sum(v.GetLower() + v.GetUpper());

    /// <inheritdoc cref="Sum(Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> v)
    {
        Vector128<float> half = v.GetLower() + v.GetUpper();
        return (half.GetElement(0) + half.GetElement(2)) + (half.GetElement(1) + half.GetElement(3));
    }

    /// <summary>
    /// ggml's horizontal sum in its 128-bit softmax: (v0 + v2) + (v1 + v3) in builds with AVX, (v0 + v1) + (v2 + v3)
    /// with SSE alone and on NEON (pairwise adds).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector128<float> v) => Avx.IsSupported
        ? (v.GetElement(0) + v.GetElement(2)) + (v.GetElement(1) + v.GetElement(3))
        : (v.GetElement(0) + v.GetElement(1)) + (v.GetElement(2) + v.GetElement(3));
}
