using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Signed 8-bit dot building blocks shared by the Q8_0 x Q8_0 and Q4_0 x Q8_0 kernels. Each turns 32 (or 64)
/// int8 pairs into int32 lane sums that are exact, so the kernels differ from the scalar reference only in the
/// order the per-block float terms are added.
/// </summary>
internal static class Int8Dot
{
    /// <summary>
    /// AVX2: 32 int8 x int8 products summed in groups of four into 8 int32 lanes, as float (exact: |sum| &lt; 2^17).
    /// pmaddubsw multiplies unsigned by signed bytes, so x's sign moves onto y (|x| * sign(y, x)) like ggml's
    /// mul_sum_i8_pairs_float. Caveat shared with ggml: a pair sum of 2 * 128 * 128 saturates at 32767; a
    /// quantizer that writes -128 into both operands is the only way to reach it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MulSumPairs(Vector256<sbyte> x, Vector256<sbyte> y)
    {
        Vector256<byte> absoluteX = Avx2.Abs(x);
        Vector256<sbyte> signedY = Avx2.Sign(y, x);
        return Avx.ConvertToVector256Single(SumQuads(absoluteX, signedY));
    }

    /// <summary>
    /// 32 products of unsigned <paramref name="x"/> and signed <paramref name="y"/> bytes summed in groups of four
    /// into 8 int32 lanes: one vpdpbusd where the CPU has AVX-VNNI, else pmaddubsw then pmaddwd with ones. The
    /// sums are the same whenever no pair reaches the int16 limit of the two-step form (2 x 255 x 128 cannot
    /// occur with quantized weights: |x| is at most 128 and activations stay within [-127, 127]).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> SumQuads(Vector256<byte> x, Vector256<sbyte> y)
    {
        if (AvxVnni.IsSupported)
        {
            return AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, x, y);
        }
        Vector256<short> pairs = Avx2.MultiplyAddAdjacent(x, y);
        return Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1));
    }

    /// <summary>
    /// AVX-512BW version of <see cref="MulSumPairs(Vector256{sbyte}, Vector256{sbyte})"/>: 64 pairs, 16 lanes
    /// (lanes 0-7 from bytes 0-31, lanes 8-15 from bytes 32-63). Without AVX-512BW it runs as two AVX2 halves
    /// with the same lane layout, which lets the 512-bit block kernels be tested on AVX2-only machines.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MulSumPairs(Vector512<sbyte> x, Vector512<sbyte> y)
    {
        if (!Avx512BW.IsSupported)
        {
            return Vector512.Create(MulSumPairs(x.GetLower(), y.GetLower()), MulSumPairs(x.GetUpper(), y.GetUpper()));
        }
        // AVX-512 has no vpsignb: negate y where x is negative (where x is 0, |x| is 0 and y does not matter).
        Vector512<byte> absoluteX = Avx512BW.Abs(x);
        Vector512<sbyte> signedY = Vector512.ConditionalSelect(
            Vector512.LessThan(x, Vector512<sbyte>.Zero), Vector512<sbyte>.Zero - y, y);
        Vector512<short> pairs = Avx512BW.MultiplyAddAdjacent(absoluteX, signedY);
        Vector512<int> quads = Avx512BW.MultiplyAddAdjacent(pairs, Vector512.Create((short)1));
        return Vector512.ConvertToSingle(quads);
    }

    /// <summary>
    /// Portable: products of 16 int8 pairs, widened to int32 before any addition so nothing can overflow,
    /// summed into 4 lanes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> MulSum(Vector128<sbyte> x, Vector128<sbyte> y)
    {
        Vector128<short> low = Vector128.WidenLower(x) * Vector128.WidenLower(y);
        Vector128<short> high = Vector128.WidenUpper(x) * Vector128.WidenUpper(y);
        return (Vector128.WidenLower(low) + Vector128.WidenUpper(low)) +
               (Vector128.WidenLower(high) + Vector128.WidenUpper(high));
    }

    /// <summary>
    /// Sum of 8 floats in ggml's hsum_float_8 order: upper half + lower half, then (0+2) + (1+3).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalSum(Vector256<float> values)
    {
        Vector128<float> folded = values.GetUpper() + values.GetLower();
        return (folded.GetElement(0) + folded.GetElement(2)) + (folded.GetElement(1) + folded.GetElement(3));
    }
}
