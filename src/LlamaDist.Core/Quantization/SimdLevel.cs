using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Which implementation of a row kernel to run. Every format has a scalar reference and up to three vector
/// versions; <see cref="SimdCapabilities.Best"/> picks the widest one this CPU runs natively. Tests run each
/// supported level against the scalar reference.
/// </summary>
public enum SimdLevel
{
    /// <summary>Plain loops, the reference every vector version is checked against.</summary>
    Scalar = 0,

    /// <summary>128-bit cross-platform vectors: the portable fallback (SSE, NEON, WASM ...).</summary>
    Vector128 = 1,

    /// <summary>256-bit vectors; the int8 dots use AVX2 (pmaddubsw / pmaddwd) like ggml's x86 path.</summary>
    Vector256 = 2,

    /// <summary>512-bit vectors; the int8 dots use AVX-512BW (two 32-element blocks per register).</summary>
    Vector512 = 3,
}

/// <summary>Run-time detection of the vector levels this process can run natively.</summary>
public static class SimdCapabilities
{
    /// <summary>The widest level that is hardware accelerated, chosen once at start-up.</summary>
    public static SimdLevel Best { get; } = Detect();

    /// <summary>
    /// The level the quantized (Q8_0 x Q8_0, Q4_0 x Q8_0) dots run at by default: 256-bit wherever AVX2 is
    /// available, even on AVX-512 CPUs. ggml's x86 q8_0/q4_0 dots are AVX2-only (AVX-512 builds run the same
    /// code), so this keeps our float accumulation order identical to llama.cpp's; the 512-bit int8 kernels
    /// stay available by explicit level.
    /// </summary>
    public static SimdLevel BestForInt8 { get; } =
        Best == SimdLevel.Vector512 && IsSupported(SimdLevel.Vector256) ? SimdLevel.Vector256 : Best;

    /// <summary>The default level of the row dot for <paramref name="weightType"/>-style kernels.</summary>
    internal static SimdLevel DefaultFor(bool int8Dot) => int8Dot ? BestForInt8 : Best;

    /// <summary>
    /// True when <paramref name="level"/> runs natively here. Vector256 needs AVX2 + FMA (the int8 kernels use
    /// AVX2 instructions directly); Vector512 needs AVX-512F/BW. Vector512.IsHardwareAccelerated is deliberately
    /// not consulted: .NET reports false on CPUs where it prefers 256-bit code for clock-speed reasons, yet
    /// still emits AVX-512 for Vector512 there, and llama.cpp's AVX-512 build uses 512-bit float dots on those
    /// CPUs, so matching its summation order needs the 512-bit kernels.
    /// </summary>
    public static bool IsSupported(SimdLevel level) => level switch
    {
        SimdLevel.Scalar => true,
        SimdLevel.Vector128 => Vector128.IsHardwareAccelerated,
        SimdLevel.Vector256 => Vector256.IsHardwareAccelerated && Avx2.IsSupported && Fma.IsSupported,
        SimdLevel.Vector512 => Avx512F.IsSupported && Avx512BW.IsSupported && Fma.IsSupported,
        _ => false,
    };

    /// <summary>Every level <see cref="IsSupported"/> accepts, narrowest first.</summary>
    public static IReadOnlyList<SimdLevel> SupportedLevels { get; } =
        Enum.GetValues<SimdLevel>().Where(IsSupported).ToArray();

    /// <summary>Throws <see cref="NotSupportedException"/> when a caller asks for a level this CPU lacks.</summary>
    internal static void Require(SimdLevel level)
    {
        if (!IsSupported(level))
        {
            throw new NotSupportedException($"SIMD level {level} is not supported on this CPU.");
        }
    }

    private static SimdLevel Detect()
    {
        if (IsSupported(SimdLevel.Vector512)) return SimdLevel.Vector512;
        if (IsSupported(SimdLevel.Vector256)) return SimdLevel.Vector256;
        if (IsSupported(SimdLevel.Vector128)) return SimdLevel.Vector128;
        return SimdLevel.Scalar;
    }
}
