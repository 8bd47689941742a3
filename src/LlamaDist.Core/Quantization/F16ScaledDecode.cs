using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// F16 decoding (AVX2 and AVX-512): the row dots' arithmetic (ggml_vec_dot_f16: <see cref="DotVector256{TActivations}"/>,
/// 32 per step into four 8-lane accumulators, and <see cref="DotVector512{TActivations}"/>, 64 per step into four
/// 16-lane ones; the same reductions and double leftovers) with a cheaper half -> float widening, two rows at a time.
/// <para>Why: .NET exposes no vcvtph2ps, and the exact software widening (<see cref="HalfToSingle(Vector512{uint})"/>,
/// 7 vector operations per vector of halves) made the AVX-512 row dot slower than the AVX2 one, whose finite path
/// takes 4 (<see cref="WidenFinite"/>). Here each vector of halves costs 3: sign-extend (vpmovsxwd), shift left 13,
/// mask to sign + 15 magnitude bits. That leaves a float equal to the half times 2^-112 (the half's exponent under
/// the float's, not re-biased; subnormal halves become subnormal floats, still exact). The missing 2^112 is put into
/// the activations once per token instead of once per weight (<see cref="RoundAndScaleActivationRow"/>):
/// x' = x * 2^112 is exact (a half-rounded x is at most 65504, and 65504 * 2^112 is below float's maximum), and the
/// FMA's product w * 2^-112 * x' = w * x is exact before its one rounding, so every accumulator holds the same bits
/// as with exactly widened weights and plain activations.</para>
/// <para>Inf/NaN halves would widen to finite values, so a running max of the doubled raw halves flags them and
/// the row is redone exactly (<see cref="ScaledRoundedActivations"/> undoes the scale on load, exactly).</para>
/// </summary>
public static unsafe partial class F16Format
{
    private static readonly float ActivationScale = BitConverter.UInt32BitsToSingle(0x77800000u);   // 2^112
    private static readonly float ActivationUnscale = BitConverter.UInt32BitsToSingle(0x07800000u); // 2^-112

    /// <summary>
    /// <see cref="DotScaled512"/> on AVX2: bit-identical to <see cref="DotVector256{TActivations}"/> with the
    /// unscaled rounded activations.
    /// </summary>
    internal static float DotScaled256(byte* weights, byte* activations, int columns)
    {
        short* w = (short*)weights;
        float* x = (float*)activations;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        Vector256<ushort> maxDoubled = Vector256<ushort>.Zero;
        Vector256<int> mask = Vector256.Create(unchecked((int)0x8FFFE000));
        int i = 0;
        for (; i + 32 <= columns; i += 32)
        {
            Prefetch.Line(w + i);
            maxDoubled = Avx2.Max(maxDoubled, MaxDoubled(w + i));
            ScaledStep(w + i, x + i, mask, ref acc0, ref acc1, ref acc2, ref acc3);
        }
        if (AnyInfinityOrNaN(maxDoubled))
        {
            return DotVector256Exact<ScaledRoundedActivations>(weights, activations, columns);
        }
        return (float)AddLeftoversInDouble<ScaledRoundedActivations>(GgmlReductions.F32x8(acc0, acc1, acc2, acc3),
            (ushort*)w, activations, i, columns);
    }

    /// <summary><see cref="DotScaled256"/> for two rows (the second <paramref name="secondRowOffset"/> bytes on) into y[0], y[1].</summary>
    internal static void DotScaled256Pair(byte* weights, long secondRowOffset, byte* activations, int columns, float* y)
    {
        short* w = (short*)weights;
        short* u = (short*)(weights + secondRowOffset);
        float* x = (float*)activations;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        Vector256<float> bcc0 = Vector256<float>.Zero, bcc1 = Vector256<float>.Zero;
        Vector256<float> bcc2 = Vector256<float>.Zero, bcc3 = Vector256<float>.Zero;
        Vector256<ushort> maxDoubled = Vector256<ushort>.Zero;
        Vector256<int> mask = Vector256.Create(unchecked((int)0x8FFFE000));
        int i = 0;
        for (; i + 32 <= columns; i += 32)
        {
            Prefetch.Line(w + i);
            Prefetch.Line(u + i);
            maxDoubled = Avx2.Max(maxDoubled, Avx2.Max(MaxDoubled(w + i), MaxDoubled(u + i)));
            ScaledStep(w + i, x + i, mask, ref acc0, ref acc1, ref acc2, ref acc3);
            ScaledStep(u + i, x + i, mask, ref bcc0, ref bcc1, ref bcc2, ref bcc3);
        }
        if (AnyInfinityOrNaN(maxDoubled))
        {
            y[0] = DotVector256Exact<ScaledRoundedActivations>((byte*)w, activations, columns);
            y[1] = DotVector256Exact<ScaledRoundedActivations>((byte*)u, activations, columns);
            return;
        }
        y[0] = (float)AddLeftoversInDouble<ScaledRoundedActivations>(GgmlReductions.F32x8(acc0, acc1, acc2, acc3),
            (ushort*)w, activations, i, columns);
        y[1] = (float)AddLeftoversInDouble<ScaledRoundedActivations>(GgmlReductions.F32x8(bcc0, bcc1, bcc2, bcc3),
            (ushort*)u, activations, i, columns);
    }

    /// <summary>32 halves: halves i + 8j widened (times 2^-112) into accumulator j with activations i + 8j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScaledStep(short* halves, float* x, Vector256<int> mask, ref Vector256<float> acc0,
        ref Vector256<float> acc1, ref Vector256<float> acc2, ref Vector256<float> acc3)
    {
        acc0 = Vector256.FusedMultiplyAdd(WidenUnbiased(halves, mask), Vector256.Load(x), acc0);
        acc1 = Vector256.FusedMultiplyAdd(WidenUnbiased(halves + 8, mask), Vector256.Load(x + 8), acc1);
        acc2 = Vector256.FusedMultiplyAdd(WidenUnbiased(halves + 16, mask), Vector256.Load(x + 16), acc2);
        acc3 = Vector256.FusedMultiplyAdd(WidenUnbiased(halves + 24, mask), Vector256.Load(x + 24), acc3);
    }

    /// <summary>Eight halves to floats equal to half * 2^-112 (finite halves): vpmovsxwd, vpslld 13, vpand.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> WidenUnbiased(short* halves, Vector256<int> mask) =>
        ((Avx2.ConvertToVector256Int32(halves) << 13) & mask).AsSingle();

    /// <summary>
    /// True when <see cref="MatrixKernels"/> runs F16 rows at the AVX-512 level, where <see cref="DotScaled512"/>
    /// and its pair kernel may stand in for the row dot (same bits).
    /// </summary>
    internal static bool RunsRowsAt512 { get; } =
        Avx512F.IsSupported && Avx512BW.IsSupported && SimdCapabilities.Best == SimdLevel.Vector512; // F16's level

    /// <summary>destination[i] = (float)(half)source[i] * 2^112: the activations of the scaled decode kernels.</summary>
    internal static void RoundAndScaleActivationRow(float* source, float* destination, int count)
    {
        RoundActivationRow(source, destination, count);
        Vector256<float> scale = Vector256.Create(ActivationScale);
        int i = 0;
        for (; i + 8 <= count; i += 8)
        {
            (Vector256.Load(destination + i) * scale).Store(destination + i);
        }
        for (; i < count; i++)
        {
            destination[i] *= ActivationScale;
        }
    }

    /// <summary>
    /// One row against activations from <see cref="RoundAndScaleActivationRow"/>: bit-identical to
    /// <see cref="DotVector512{TActivations}"/> with the unscaled rounded activations.
    /// </summary>
    internal static float DotScaled512(byte* weights, byte* activations, int columns)
    {
        short* w = (short*)weights;
        float* x = (float*)activations;
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
        Vector512<float> acc2 = Vector512<float>.Zero, acc3 = Vector512<float>.Zero;
        Vector512<ushort> maxDoubled = Vector512<ushort>.Zero;
        Vector512<int> mask = Vector512.Create(unchecked((int)0x8FFFE000));
        int i = 0;
        for (; i + 64 <= columns; i += 64)
        {
            Prefetch.Line(w + i);
            Prefetch.Line(w + i + 32);
            maxDoubled = Vector512.Max(maxDoubled, MaxDoubled512(w + i));
            ScaledStep(w + i, x + i, mask, ref acc0, ref acc1, ref acc2, ref acc3);
        }
        if (AnyInfinityOrNaN(maxDoubled))
        {
            return DotVector512<ScaledRoundedActivations>(weights, activations, columns);
        }
        return (float)AddLeftoversInDouble<ScaledRoundedActivations>(GgmlReductions.F32x16(acc0, acc1, acc2, acc3),
            (ushort*)w, activations, i, columns);
    }

    /// <summary>
    /// <see cref="DotScaled512"/> for two rows (the second <paramref name="secondRowOffset"/> bytes on) into y[0],
    /// y[1]; each row keeps its own accumulators, so both equal the single-row result bit for bit.
    /// </summary>
    internal static void DotScaled512Pair(byte* weights, long secondRowOffset, byte* activations, int columns, float* y)
    {
        short* w = (short*)weights;
        short* u = (short*)(weights + secondRowOffset);
        float* x = (float*)activations;
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
        Vector512<float> acc2 = Vector512<float>.Zero, acc3 = Vector512<float>.Zero;
        Vector512<float> bcc0 = Vector512<float>.Zero, bcc1 = Vector512<float>.Zero;
        Vector512<float> bcc2 = Vector512<float>.Zero, bcc3 = Vector512<float>.Zero;
        Vector512<ushort> maxDoubled = Vector512<ushort>.Zero;
        Vector512<int> mask = Vector512.Create(unchecked((int)0x8FFFE000));
        int i = 0;
        for (; i + 64 <= columns; i += 64)
        {
            Prefetch.Line(w + i);
            Prefetch.Line(w + i + 32);
            Prefetch.Line(u + i);
            Prefetch.Line(u + i + 32);
            maxDoubled = Vector512.Max(maxDoubled, Vector512.Max(MaxDoubled512(w + i), MaxDoubled512(u + i)));
            ScaledStep(w + i, x + i, mask, ref acc0, ref acc1, ref acc2, ref acc3);
            ScaledStep(u + i, x + i, mask, ref bcc0, ref bcc1, ref bcc2, ref bcc3);
        }
        if (AnyInfinityOrNaN(maxDoubled))
        {
            y[0] = DotVector512<ScaledRoundedActivations>((byte*)w, activations, columns);
            y[1] = DotVector512<ScaledRoundedActivations>((byte*)u, activations, columns);
            return;
        }
        y[0] = (float)AddLeftoversInDouble<ScaledRoundedActivations>(GgmlReductions.F32x16(acc0, acc1, acc2, acc3),
            (ushort*)w, activations, i, columns);
        y[1] = (float)AddLeftoversInDouble<ScaledRoundedActivations>(GgmlReductions.F32x16(bcc0, bcc1, bcc2, bcc3),
            (ushort*)u, activations, i, columns);
    }

    /// <summary>64 halves: halves i + 16j widened (times 2^-112) into accumulator j with activations i + 16j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScaledStep(short* halves, float* x, Vector512<int> mask, ref Vector512<float> acc0,
        ref Vector512<float> acc1, ref Vector512<float> acc2, ref Vector512<float> acc3)
    {
        acc0 = Vector512.FusedMultiplyAdd(WidenUnbiased(halves, mask), Vector512.Load(x), acc0);
        acc1 = Vector512.FusedMultiplyAdd(WidenUnbiased(halves + 16, mask), Vector512.Load(x + 16), acc1);
        acc2 = Vector512.FusedMultiplyAdd(WidenUnbiased(halves + 32, mask), Vector512.Load(x + 32), acc2);
        acc3 = Vector512.FusedMultiplyAdd(WidenUnbiased(halves + 48, mask), Vector512.Load(x + 48), acc3);
    }

    /// <summary>Sixteen halves to floats equal to half * 2^-112 (finite halves): vpmovsxwd, vpslld 13, vpandd.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> WidenUnbiased(short* halves, Vector512<int> mask) =>
        ((Avx512F.ConvertToVector512Int32(Vector256.Load(halves)) << 13) & mask).AsSingle();

    /// <summary>Per lane, the larger of two 32-half vectors' raw bits doubled (sign shifted out).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ushort> MaxDoubled512(short* halves) =>
        Vector512.Max(Vector512.Load((ushort*)halves) << 1, Vector512.Load((ushort*)(halves + 32)) << 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool AnyInfinityOrNaN(Vector512<ushort> maxDoubled) =>
        Vector512.GreaterThanOrEqualAny(maxDoubled, Vector512.Create((ushort)0xF800));

    /// <summary>Activations from <see cref="RoundAndScaleActivationRow"/>, read back unscaled (exact).</summary>
    internal readonly struct ScaledRoundedActivations : IActivationRow
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(byte* row, int index) => ((float*)row)[index] * ActivationUnscale;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Load128(byte* row, int index) =>
            Vector128.Load((float*)row + index) * Vector128.Create(ActivationUnscale);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load256(byte* row, int index) =>
            Vector256.Load((float*)row + index) * Vector256.Create(ActivationUnscale);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load512(byte* row, int index) =>
            Vector512.Load((float*)row + index) * Vector512.Create(ActivationUnscale);
    }
}
