using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace LlamaDist.Gpu.Kernels;

/// <summary>
/// IEEE binary16 conversions in integer arithmetic (half → float in hardware on CUDA), identical on every ILGPU backend
/// and to the CPU engine's (F16C / System.Half): half → float is exact, float → half rounds to nearest even (F. Giesen's
/// float_to_half_fast3_rtne). Kept out of ILGPU.Half so no backend's own rounding can differ.
/// </summary>
internal static class HalfBits
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(int bits)
    {
        // CUDA converts in one instruction (cvt.f32.f16); half → float is exact, so every backend agrees.
        if (Accelerator.CurrentType == AcceleratorType.Cuda)
        {
            return Interop.IntAsFloat((ushort)bits);
        }
        int magnitude = bits & 0x7FFF;
        int sign = (bits & 0x8000) << 16;
        // Normal halves (exponent 1..30, nearly every weight) take one range test and the exponent rebiased in
        // place (+112 << 23): the decode products convert two halves per 32-bit word they read, so these few integer
        // operations per element, not the memory, bound their speed.
        if ((uint)(magnitude - 0x0400) < 0x7800u)
        {
            return Interop.IntAsFloat((uint)(sign | ((magnitude << 13) + 0x38000000)));
        }
        if (magnitude < 0x0400)
        {
            // Zero or subnormal: mantissa * 2^-24, exact in float.
            float value = magnitude * (1f / 16777216f);
            return sign != 0 ? -value : value;
        }
        // Infinity or NaN (payload kept).
        return Interop.IntAsFloat((uint)(sign | 0x7F800000 | ((magnitude & 0x3FF) << 13)));
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
