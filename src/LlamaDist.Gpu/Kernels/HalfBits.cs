using System.Runtime.CompilerServices;
using ILGPU;

namespace LlamaDist.Gpu.Kernels;

/// <summary>
/// IEEE binary16 conversions in integer arithmetic, identical on every ILGPU backend and to the CPU engine's
/// (F16C / System.Half): half → float is exact, float → half rounds to nearest even (F. Giesen's
/// float_to_half_fast3_rtne). Kept out of ILGPU.Half so no backend's own rounding can differ.
/// </summary>
internal static class HalfBits
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(int bits)
    {
        int sign = (bits & 0x8000) << 16;
        int exponent = (bits >> 10) & 0x1F;
        int mantissa = bits & 0x3FF;
        if (exponent == 0)
        {
            // Zero or subnormal: mantissa * 2^-24, exact in float.
            float magnitude = mantissa * (1f / 16777216f);
            return sign != 0 ? -magnitude : magnitude;
        }
        if (exponent == 31)
        {
            return Interop.IntAsFloat((uint)(sign | 0x7F800000 | (mantissa << 13)));
        }
        return Interop.IntAsFloat((uint)(sign | ((exponent + 112) << 23) | (mantissa << 13)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int FromSingle(float value)
    {
        uint bits = Interop.FloatAsInt(value);
        uint sign = (bits >> 16) & 0x8000u;
        uint magnitude = bits & 0x7FFFFFFFu;
        uint result;
        if (magnitude >= 0x47800000u)
        {
            // 65536 or more, infinity, NaN (kept quiet).
            result = magnitude > 0x7F800000u ? 0x7E00u : 0x7C00u;
        }
        else if (magnitude < 0x38800000u)
        {
            // Below 2^-14: a half subnormal. Adding 0.5f aligns the float's last place with the half's 2^-24.
            float shifted = Interop.IntAsFloat(magnitude) + 0.5f;
            result = Interop.FloatAsInt(shifted) - 0x3F000000u;
        }
        else
        {
            uint odd = (magnitude >> 13) & 1u;
            magnitude += 0xC8000FFFu + odd;
            result = magnitude >> 13;
        }
        return (int)(result | sign);
    }

    /// <summary>(float)(half)value: what an F16 × F16 product sees of a float activation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Round(float value) => ToSingle(FromSingle(value));
}
