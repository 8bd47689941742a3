using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// GGML_TYPE_F16: IEEE binary16, 2 bytes per element. ggml pairs F16 weights with F16 activations (the float
/// activations are rounded to half first), multiplies in float and accumulates in float.
/// </summary>
public static unsafe partial class F16Format
{
    /// <summary>Elements per block (plain types have blocks of one).</summary>
    public const int BlockSize = 1;

    /// <summary>Bytes per block.</summary>
    public const int BlockBytes = 2;

    private static readonly float ScaleToInfinity = BitConverter.UInt32BitsToSingle(0x77800000u); // 2^112
    private static readonly float ScaleToZero = BitConverter.UInt32BitsToSingle(0x08800000u);     // 2^-110

    /// <summary>
    /// float -> half bits, round to nearest even, exactly like ggml's portable <c>ggml_compute_fp32_to_fp16</c>
    /// (overflow -> infinity, tiny values -> subnormals or signed zero, NaN -> 0x7E00 with the input's sign).
    /// </summary>
    public static ushort FromSingle(float value)
    {
        // The arithmetic does the rounding: scaling by 2^112 then 2^-110 leaves |value| * 4 with overflow to
        // infinity, and adding a power of two 'bias' places the half's mantissa in the low float bits, rounded
        // by the FPU (nearest even).
        float magnitude = MathF.Abs(value) * ScaleToInfinity * ScaleToZero;
        uint bits = BitConverter.SingleToUInt32Bits(value);
        uint shiftedLeft = bits + bits;
        uint sign = bits & 0x80000000u;
        uint bias = shiftedLeft & 0xFF000000u;
        if (bias < 0x71000000u)
        {
            bias = 0x71000000u;
        }
        magnitude = BitConverter.UInt32BitsToSingle((bias >> 1) + 0x07800000u) + magnitude;
        uint resultBits = BitConverter.SingleToUInt32Bits(magnitude);
        uint exponentBits = (resultBits >> 13) & 0x00007C00u;
        uint mantissaBits = resultBits & 0x00000FFFu;
        uint nonSign = exponentBits + mantissaBits;
        return (ushort)((sign >> 16) | (shiftedLeft > 0xFF000000u ? 0x7E00u : nonSign));
    }

    // All 65536 halves widened once (256 KB, pinned), like ggml's ggml_table_f32_f16: the block scales of the
    // quantized kernels are read through it on every block, where a software Half conversion would cost more
    // than the block's integer dot.
    private static readonly float* HalfTable = BuildHalfTable();

    /// <summary>half bits -> float, exact (every half is representable as a float).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => HalfTable[bits];

    private static float* BuildHalfTable()
    {
        float[] table = GC.AllocateArray<float>(65536, pinned: true);
        for (int bits = 0; bits < table.Length; bits++)
        {
            table[bits] = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
        }
        // The array is pinned and referenced by TableRoot for the life of the process, so the pointer stays valid.
        TableRoot = table;
        return (float*)Unsafe.AsPointer(ref table[0]);
    }

    private static float[]? TableRoot;

    /// <summary>Rounds each float of <paramref name="source"/> to half and stores the 2-byte bit patterns.</summary>
    public static void QuantizeRow(ReadOnlySpan<float> source, Span<byte> destination)
    {
        RowArguments.RequireBytes(destination.Length, (long)source.Length * BlockBytes, "F16", nameof(destination));
        fixed (float* src = source)
        fixed (byte* dst = destination)
        {
            ushort* halves = (ushort*)dst;
            for (int i = 0; i < source.Length; i++)
            {
                halves[i] = FromSingle(src[i]);
            }
        }
    }

    /// <summary>Widens <c>destination.Length</c> halves from <paramref name="source"/> to float.</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination)
    {
        RowArguments.RequireBytes(source.Length, (long)destination.Length * BlockBytes, "F16", nameof(source));
        fixed (byte* src = source)
        fixed (float* dst = destination)
        {
            ushort* halves = (ushort*)src;
            for (int i = 0; i < destination.Length; i++)
            {
                dst[i] = ToSingle(halves[i]);
            }
        }
    }

    /// <summary>Dot product of <paramref name="columns"/> F16 weights with F16 activations, best SIMD level.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns) =>
        Dot(weights, activations, columns, SimdCapabilities.Best);

    /// <summary>Dot product at a chosen <paramref name="level"/>.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns, SimdLevel level)
    {
        return RowArguments.Dot(weights, activations, columns, BlockSize, "F16", BlockBytes, "F16", BlockBytes, DotKernel(level));
    }

    /// <summary>The row kernel for <paramref name="level"/>: (weight row, activation row, columns) -> dot.</summary>
    internal static delegate*<byte*, byte*, int, float> DotKernel(SimdLevel level)
    {
        SimdCapabilities.Require(level);
        return level switch
        {
            SimdLevel.Vector512 => &DotVector512<HalfActivations>,
            SimdLevel.Vector256 => &DotVector256<HalfActivations>,
            SimdLevel.Vector128 => &DotVector128<HalfActivations>,
            _ => &DotScalar<HalfActivations>,
        };
    }

    /// <summary>
    /// Kernel for F16 weights against activations already rounded to half but kept as floats (see
    /// <see cref="RoundActivationRow"/>): the same products in the same order as <see cref="DotKernel"/>, so the
    /// same result bit for bit, with half the conversions. MatrixKernels uses it.
    /// </summary>
    internal static delegate*<byte*, byte*, int, float> RoundedSingleDotKernel(SimdLevel level)
    {
        SimdCapabilities.Require(level);
        return level switch
        {
            SimdLevel.Vector512 => &DotVector512<RoundedSingleActivations>,
            SimdLevel.Vector256 => &DotVector256<RoundedSingleActivations>,
            SimdLevel.Vector128 => &DotVector128<RoundedSingleActivations>,
            _ => &DotScalar<RoundedSingleActivations>,
        };
    }

    /// <summary>destination[i] = (float)(half)source[i]: the activation values an F16 x F16 dot would see.</summary>
    internal static void RoundActivationRow(float* source, float* destination, int count)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            // Eight at a time: each matrix pass over F16 weights rounds its input row first, and a decoded token
            // does that about ninety times on one thread while the others wait.
            for (; i + 8 <= count; i += 8)
            {
                HalfToSingle(FromSingle(Vector256.Load((uint*)(source + i)))).Store(destination + i);
            }
        }
        for (; i < count; i++)
        {
            destination[i] = ToSingle(FromSingle(source[i]));
        }
    }

    /// <summary>
    /// <see cref="FromSingle(float)"/> on eight floats (given as their bits): the same steps lane by lane, so the
    /// same half bits, in the low 16 bits of each lane.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> FromSingle(Vector256<uint> bits)
    {
        Vector256<float> magnitude = (bits & Vector256.Create(0x7FFFFFFFu)).AsSingle()
            * Vector256.Create(ScaleToInfinity) * Vector256.Create(ScaleToZero);
        Vector256<uint> shiftedLeft = bits + bits;
        Vector256<uint> sign = bits & Vector256.Create(0x80000000u);
        Vector256<uint> exponentsOnly = shiftedLeft & Vector256.Create(0xFF000000u);
        Vector256<uint> bias = Vector256.Max(exponentsOnly, Vector256.Create(0x71000000u));
        magnitude = ((bias >> 1) + Vector256.Create(0x07800000u)).AsSingle() + magnitude;
        Vector256<uint> resultBits = magnitude.AsUInt32();
        Vector256<uint> nonSign = ((resultBits >> 13) & Vector256.Create(0x00007C00u))
            + (resultBits & Vector256.Create(0x00000FFFu));
        Vector256<uint> isNaN = Vector256.GreaterThan(shiftedLeft, Vector256.Create(0xFF000000u));
        return (sign >> 16) | Vector256.ConditionalSelect(isNaN, Vector256.Create(0x7E00u), nonSign);
    }

    /// <summary>Reference: each pair widened to float, multiplied, summed left to right in float.</summary>
    internal static float DotScalar<TActivations>(byte* weights, byte* activations, int columns)
        where TActivations : struct, IActivationRow =>
        TailScalar<TActivations>((ushort*)weights, activations, 0, columns);

    internal static float DotVector128<TActivations>(byte* weights, byte* activations, int columns)
        where TActivations : struct, IActivationRow
    {
        ushort* w = (ushort*)weights;
        Vector128<float> acc0 = Vector128<float>.Zero, acc1 = Vector128<float>.Zero;
        int i = 0;
        for (; i + 8 <= columns; i += 8)
        {
            Vector128<ushort> wh = Vector128.Load(w + i);
            acc0 = Vector128.MultiplyAddEstimate(
                HalfToSingle(Vector128.WidenLower(wh)), TActivations.Load128(activations, i), acc0);
            acc1 = Vector128.MultiplyAddEstimate(
                HalfToSingle(Vector128.WidenUpper(wh)), TActivations.Load128(activations, i + 4), acc1);
        }
        return Vector128.Sum(acc0 + acc1) + TailScalar<TActivations>(w, activations, i, columns);
    }

    /// <summary>
    /// ggml_vec_dot_f16 on AVX2 (GGML_F16_STEP 32, four 8-lane FMA accumulators, element i + 8j into accumulator
    /// j), GGML_F32x8_REDUCE, then the remaining n mod 32 products added in double like ggml's leftovers.
    /// </summary>
    internal static float DotVector256<TActivations>(byte* weights, byte* activations, int columns)
        where TActivations : struct, IActivationRow
    {
        if (Avx2.IsSupported)
        {
            float fast = DotVector256Finite<TActivations>(weights, activations, columns, out bool sawInfinityOrNaN);
            if (!sawInfinityOrNaN)
            {
                return fast;
            }
        }
        return DotVector256Exact<TActivations>(weights, activations, columns);
    }

    /// <summary>
    /// <see cref="DotVector256{TActivations}"/> for weight rows without Inf/NaN halves, in about half the
    /// instructions: each 8 halves are sign-extended while loaded (vpmovsxwd), shifted under the float fields and
    /// masked to sign + 15 magnitude bits, then one exact multiply by 2^112 re-biases the exponent (the sign rides
    /// through the multiply), giving the same floats as <see cref="HalfToSingle(Vector256{uint})"/> for every
    /// finite half. Inf/NaN halves (exponent all ones) would come out as finite 2^16-range values, so a running
    /// max of the doubled raw halves (2 ops per 16 halves instead of 3 per 8) flags them and the caller redoes the
    /// row exactly. Same products, same accumulators, same reduction: bit-identical to ggml_vec_dot_f16.
    /// </summary>
    private static float DotVector256Finite<TActivations>(byte* weights, byte* activations, int columns,
        out bool sawInfinityOrNaN)
        where TActivations : struct, IActivationRow
    {
        short* w = (short*)weights;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        Vector256<ushort> maxDoubled = Vector256<ushort>.Zero;
        Vector256<int> mask = Vector256.Create(unchecked((int)0x8FFFE000)); // sign + 15 magnitude bits
        Vector256<float> rebias = Vector256.Create(ScaleToInfinity);
        int i = 0;
        for (; i + 32 <= columns; i += 32)
        {
            Prefetch.Line(w + i);
            maxDoubled = Avx2.Max(maxDoubled, MaxDoubled(w + i));
            Vector256<float> x0 = TActivations.Load256(activations, i);
            Vector256<float> x1 = TActivations.Load256(activations, i + 8);
            Vector256<float> x2 = TActivations.Load256(activations, i + 16);
            Vector256<float> x3 = TActivations.Load256(activations, i + 24);
            FiniteStep(w + i, x0, x1, x2, x3, mask, rebias, ref acc0, ref acc1, ref acc2, ref acc3);
        }
        sawInfinityOrNaN = AnyInfinityOrNaN(maxDoubled);
        double sum = GgmlReductions.F32x8(acc0, acc1, acc2, acc3);
        return (float)AddLeftoversInDouble<TActivations>(sum, (ushort*)w, activations, i, columns);
    }

    /// <summary>
    /// One 32-half step of the finite dot: halves i + 8j (j = 0..3) at <paramref name="halves"/> widened and
    /// multiplied into accumulator j with activation vector j, as ggml_vec_dot_f16 lays them out.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FiniteStep(short* halves, Vector256<float> x0, Vector256<float> x1, Vector256<float> x2,
        Vector256<float> x3, Vector256<int> mask, Vector256<float> rebias, ref Vector256<float> acc0,
        ref Vector256<float> acc1, ref Vector256<float> acc2, ref Vector256<float> acc3)
    {
        acc0 = Vector256.FusedMultiplyAdd(WidenFinite(halves, mask, rebias), x0, acc0);
        acc1 = Vector256.FusedMultiplyAdd(WidenFinite(halves + 8, mask, rebias), x1, acc1);
        acc2 = Vector256.FusedMultiplyAdd(WidenFinite(halves + 16, mask, rebias), x2, acc2);
        acc3 = Vector256.FusedMultiplyAdd(WidenFinite(halves + 24, mask, rebias), x3, acc3);
    }

    /// <summary>
    /// The larger of two 16-half vectors' raw bits doubled (sign shifted out), per lane: 32 halves' share of the
    /// Inf/NaN check.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> MaxDoubled(short* halves) =>
        Avx2.Max(Vector256.Load((ushort*)halves) << 1, Vector256.Load((ushort*)(halves + 16)) << 1);

    /// <summary>
    /// Eight halves at <paramref name="halves"/> to float, exact for finite halves only: sign-extended, shifted
    /// under the float fields, masked to sign + 15 magnitude bits, then re-biased by 2^112.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> WidenFinite(short* halves, Vector256<int> mask, Vector256<float> rebias) =>
        ((Avx2.ConvertToVector256Int32(halves) << 13) & mask).AsSingle() * rebias;

    /// <summary>
    /// A half is Inf/NaN when its exponent bits are all ones: doubled (sign shifted out) it is >= 0xF800.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool AnyInfinityOrNaN(Vector256<ushort> maxDoubled) =>
        Vector256.GreaterThanOrEqualAny(maxDoubled, Vector256.Create((ushort)0xF800));

    /// <summary>
    /// True when <see cref="MatrixKernels"/> runs F16 rows at the AVX2 level, where the kernels that give the same
    /// bits as its row dot may stand in for it: a batch may convert each weight row to floats once
    /// (<see cref="ConvertRowToSingle"/>) and dot it with every token through <see cref="DotConvertedVector256"/>,
    /// and a decode may read two rows at once (<see cref="DotScaled256Pair"/>).
    /// </summary>
    internal static bool RunsRowsAtAvx2 { get; } =
        Avx2.IsSupported && SimdCapabilities.Best == SimdLevel.Vector256; // F16's level (WeightTypeTraits.DefaultLevel)

    /// <summary>
    /// Exact half -> float conversion of <paramref name="columns"/> halves (Inf/NaN included; AVX2 required).
    /// <para>Decoding converts every cached K row and transposed V row of the sequence again at each step (an F16
    /// KV cache), which made this a twentieth of a TinyLlama-shaped Q4_0 decode step at 100 positions, growing with
    /// the context. So whole 32-half steps take <see cref="WidenFinite"/> (four operations per 8 halves where the
    /// exact conversion takes nine) while <see cref="MaxDoubled"/> tracks the largest magnitude; a row that held an
    /// Inf or NaN half is converted again exactly. Every finite half gives the same float either way. A 400-token
    /// decode of that model went from 15.67 to 15.38 ms per step (medians of four alternating rounds in one
    /// process; every round faster).</para>
    /// </summary>
    internal static void ConvertRowToSingle(byte* halves, float* destination, int columns)
    {
        ushort* h = (ushort*)halves;
        int i = 0;
        Vector256<ushort> maxDoubled = Vector256<ushort>.Zero;
        Vector256<int> mask = Vector256.Create(unchecked((int)0x8FFFE000)); // sign + 15 magnitude bits
        Vector256<float> rebias = Vector256.Create(ScaleToInfinity);
        for (; i + 32 <= columns; i += 32)
        {
            short* w = (short*)h + i;
            maxDoubled = Avx2.Max(maxDoubled, MaxDoubled(w));
            WidenFinite(w, mask, rebias).Store(destination + i);
            WidenFinite(w + 8, mask, rebias).Store(destination + i + 8);
            WidenFinite(w + 16, mask, rebias).Store(destination + i + 16);
            WidenFinite(w + 24, mask, rebias).Store(destination + i + 24);
        }
        if (AnyInfinityOrNaN(maxDoubled))
        {
            i = 0;
        }
        for (; i + 8 <= columns; i += 8)
        {
            HalfToSingle(Avx2.ConvertToVector256Int32(h + i).AsUInt32()).Store(destination + i);
        }
        for (; i < columns; i++)
        {
            destination[i] = ToSingle(h[i]);
        }
    }

    /// <summary>
    /// <see cref="DotVector256{TActivations}"/> over weights already converted to float (exact, so the same
    /// values): the same four accumulators, element i + 8j into accumulator j, the same FMAs, GGML_F32x8_REDUCE
    /// and the same double leftovers, so the result is bit-identical to the F16 row dot.
    /// </summary>
    internal static float DotConvertedVector256(float* weights, float* activations, int columns)
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        int i = 0;
        for (; i + 32 <= columns; i += 32)
        {
            acc0 = Vector256.FusedMultiplyAdd(Vector256.Load(weights + i), Vector256.Load(activations + i), acc0);
            acc1 = Vector256.FusedMultiplyAdd(Vector256.Load(weights + i + 8), Vector256.Load(activations + i + 8), acc1);
            acc2 = Vector256.FusedMultiplyAdd(Vector256.Load(weights + i + 16), Vector256.Load(activations + i + 16), acc2);
            acc3 = Vector256.FusedMultiplyAdd(Vector256.Load(weights + i + 24), Vector256.Load(activations + i + 24), acc3);
        }
        double sum = GgmlReductions.F32x8(acc0, acc1, acc2, acc3);
        for (; i < columns; i++)
        {
            sum += weights[i] * activations[i];
        }
        return (float)sum;
    }

    /// <summary>
    /// <see cref="DotConvertedVector256"/> of one converted weight row with three activation rows (stride
    /// <paramref name="activationStride"/> floats) at once: each pair keeps its own four accumulators, FMAs, reduction
    /// and leftovers, so every result is bit-identical to the single dot, while each weight vector is loaded once
    /// for three tokens. Results go to y[0], y[yStride], y[2 * yStride].
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static void DotConverted1x3(float* weights, float* activations, long activationStride, int columns,
        float* y, long yStride)
    {
        float* a0 = activations, a1 = activations + activationStride, a2 = activations + 2 * activationStride;
        Vector256<float> p00 = Vector256<float>.Zero, p01 = Vector256<float>.Zero, p02 = Vector256<float>.Zero, p03 = Vector256<float>.Zero;
        Vector256<float> p10 = Vector256<float>.Zero, p11 = Vector256<float>.Zero, p12 = Vector256<float>.Zero, p13 = Vector256<float>.Zero;
        Vector256<float> p20 = Vector256<float>.Zero, p21 = Vector256<float>.Zero, p22 = Vector256<float>.Zero, p23 = Vector256<float>.Zero;
        int i = 0;
        for (; i + 32 <= columns; i += 32)
        {
            Vector256<float> w = Vector256.Load(weights + i);
            p00 = Fma.MultiplyAdd(w, Vector256.Load(a0 + i), p00);
            p10 = Fma.MultiplyAdd(w, Vector256.Load(a1 + i), p10);
            p20 = Fma.MultiplyAdd(w, Vector256.Load(a2 + i), p20);
            w = Vector256.Load(weights + i + 8);
            p01 = Fma.MultiplyAdd(w, Vector256.Load(a0 + i + 8), p01);
            p11 = Fma.MultiplyAdd(w, Vector256.Load(a1 + i + 8), p11);
            p21 = Fma.MultiplyAdd(w, Vector256.Load(a2 + i + 8), p21);
            w = Vector256.Load(weights + i + 16);
            p02 = Fma.MultiplyAdd(w, Vector256.Load(a0 + i + 16), p02);
            p12 = Fma.MultiplyAdd(w, Vector256.Load(a1 + i + 16), p12);
            p22 = Fma.MultiplyAdd(w, Vector256.Load(a2 + i + 16), p22);
            w = Vector256.Load(weights + i + 24);
            p03 = Fma.MultiplyAdd(w, Vector256.Load(a0 + i + 24), p03);
            p13 = Fma.MultiplyAdd(w, Vector256.Load(a1 + i + 24), p13);
            p23 = Fma.MultiplyAdd(w, Vector256.Load(a2 + i + 24), p23);
        }
        double s0 = GgmlReductions.F32x8(p00, p01, p02, p03);
        double s1 = GgmlReductions.F32x8(p10, p11, p12, p13);
        double s2 = GgmlReductions.F32x8(p20, p21, p22, p23);
        for (; i < columns; i++)
        {
            s0 += weights[i] * a0[i];
            s1 += weights[i] * a1[i];
            s2 += weights[i] * a2[i];
        }
        y[0] = (float)s0;
        y[yStride] = (float)s1;
        y[2 * yStride] = (float)s2;
    }

    /// <summary>
    /// <see cref="DotVector512{TActivations}"/> over weights already converted to float (exact, so the same values):
    /// the same four 16-lane accumulators (element i + 16j into accumulator j per 64-element step), the same FMAs,
    /// GGML_F32x16_REDUCE and the same double leftovers, so the result is bit-identical to the F16 row dot.
    /// </summary>
    internal static float DotConvertedVector512(float* weights, float* activations, int columns)
    {
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
        Vector512<float> acc2 = Vector512<float>.Zero, acc3 = Vector512<float>.Zero;
        int i = 0;
        for (; i + 64 <= columns; i += 64)
        {
            acc0 = Vector512.FusedMultiplyAdd(Vector512.Load(weights + i), Vector512.Load(activations + i), acc0);
            acc1 = Vector512.FusedMultiplyAdd(Vector512.Load(weights + i + 16), Vector512.Load(activations + i + 16), acc1);
            acc2 = Vector512.FusedMultiplyAdd(Vector512.Load(weights + i + 32), Vector512.Load(activations + i + 32), acc2);
            acc3 = Vector512.FusedMultiplyAdd(Vector512.Load(weights + i + 48), Vector512.Load(activations + i + 48), acc3);
        }
        double sum = GgmlReductions.F32x16(acc0, acc1, acc2, acc3);
        for (; i < columns; i++)
        {
            sum += weights[i] * activations[i];
        }
        return (float)sum;
    }

    /// <summary>
    /// <see cref="DotConvertedVector512"/> of one converted weight row with four activation rows (stride
    /// <paramref name="activationStride"/> floats) at once: each pair keeps its own four accumulators, FMAs, reduction
    /// and leftovers (bit-identical to the single dot), while each weight vector is loaded once for four rows.
    /// Results go to y[0], y[yStride], y[2 * yStride], y[3 * yStride].
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static void DotConverted512x4(float* weights, float* activations, long activationStride, int columns,
        float* y, long yStride)
    {
        float* a0 = activations, a1 = a0 + activationStride, a2 = a1 + activationStride, a3 = a2 + activationStride;
        Vector512<float> p00 = Vector512<float>.Zero, p01 = Vector512<float>.Zero, p02 = Vector512<float>.Zero, p03 = Vector512<float>.Zero;
        Vector512<float> p10 = Vector512<float>.Zero, p11 = Vector512<float>.Zero, p12 = Vector512<float>.Zero, p13 = Vector512<float>.Zero;
        Vector512<float> p20 = Vector512<float>.Zero, p21 = Vector512<float>.Zero, p22 = Vector512<float>.Zero, p23 = Vector512<float>.Zero;
        Vector512<float> p30 = Vector512<float>.Zero, p31 = Vector512<float>.Zero, p32 = Vector512<float>.Zero, p33 = Vector512<float>.Zero;
        int i = 0;
        for (; i + 64 <= columns; i += 64)
        {
            Vector512<float> w = Vector512.Load(weights + i);
            p00 = Vector512.FusedMultiplyAdd(w, Vector512.Load(a0 + i), p00);
            p10 = Vector512.FusedMultiplyAdd(w, Vector512.Load(a1 + i), p10);
            p20 = Vector512.FusedMultiplyAdd(w, Vector512.Load(a2 + i), p20);
            p30 = Vector512.FusedMultiplyAdd(w, Vector512.Load(a3 + i), p30);
            w = Vector512.Load(weights + i + 16);
            p01 = Vector512.FusedMultiplyAdd(w, Vector512.Load(a0 + i + 16), p01);
            p11 = Vector512.FusedMultiplyAdd(w, Vector512.Load(a1 + i + 16), p11);
            p21 = Vector512.FusedMultiplyAdd(w, Vector512.Load(a2 + i + 16), p21);
            p31 = Vector512.FusedMultiplyAdd(w, Vector512.Load(a3 + i + 16), p31);
            w = Vector512.Load(weights + i + 32);
            p02 = Vector512.FusedMultiplyAdd(w, Vector512.Load(a0 + i + 32), p02);
            p12 = Vector512.FusedMultiplyAdd(w, Vector512.Load(a1 + i + 32), p12);
            p22 = Vector512.FusedMultiplyAdd(w, Vector512.Load(a2 + i + 32), p22);
            p32 = Vector512.FusedMultiplyAdd(w, Vector512.Load(a3 + i + 32), p32);
            w = Vector512.Load(weights + i + 48);
            p03 = Vector512.FusedMultiplyAdd(w, Vector512.Load(a0 + i + 48), p03);
            p13 = Vector512.FusedMultiplyAdd(w, Vector512.Load(a1 + i + 48), p13);
            p23 = Vector512.FusedMultiplyAdd(w, Vector512.Load(a2 + i + 48), p23);
            p33 = Vector512.FusedMultiplyAdd(w, Vector512.Load(a3 + i + 48), p33);
        }
        double s0 = GgmlReductions.F32x16(p00, p01, p02, p03);
        double s1 = GgmlReductions.F32x16(p10, p11, p12, p13);
        double s2 = GgmlReductions.F32x16(p20, p21, p22, p23);
        double s3 = GgmlReductions.F32x16(p30, p31, p32, p33);
        for (; i < columns; i++)
        {
            s0 += weights[i] * a0[i];
            s1 += weights[i] * a1[i];
            s2 += weights[i] * a2[i];
            s3 += weights[i] * a3[i];
        }
        y[0] = (float)s0;
        y[yStride] = (float)s1;
        y[2 * yStride] = (float)s2;
        y[3 * yStride] = (float)s3;
    }

    /// <summary>The general AVX2 body of <see cref="DotVector256{TActivations}"/>, exact for Inf/NaN halves too.</summary>
    private static float DotVector256Exact<TActivations>(byte* weights, byte* activations, int columns)
        where TActivations : struct, IActivationRow
    {
        ushort* w = (ushort*)weights;
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        int i = 0;
        for (; i + 32 <= columns; i += 32)
        {
            Vector256<ushort> w0 = Vector256.Load(w + i), w1 = Vector256.Load(w + i + 16);
            acc0 = Vector256.FusedMultiplyAdd(
                HalfToSingle(Vector256.WidenLower(w0)), TActivations.Load256(activations, i), acc0);
            acc1 = Vector256.FusedMultiplyAdd(
                HalfToSingle(Vector256.WidenUpper(w0)), TActivations.Load256(activations, i + 8), acc1);
            acc2 = Vector256.FusedMultiplyAdd(
                HalfToSingle(Vector256.WidenLower(w1)), TActivations.Load256(activations, i + 16), acc2);
            acc3 = Vector256.FusedMultiplyAdd(
                HalfToSingle(Vector256.WidenUpper(w1)), TActivations.Load256(activations, i + 24), acc3);
        }
        double sum = GgmlReductions.F32x8(acc0, acc1, acc2, acc3);
        return (float)AddLeftoversInDouble<TActivations>(sum, w, activations, i, columns);
    }

    /// <summary>ggml_vec_dot_f16 on AVX-512: 64 per step into four 16-lane accumulators, GGML_F32x16_REDUCE.</summary>
    internal static float DotVector512<TActivations>(byte* weights, byte* activations, int columns)
        where TActivations : struct, IActivationRow
    {
        ushort* w = (ushort*)weights;
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
        Vector512<float> acc2 = Vector512<float>.Zero, acc3 = Vector512<float>.Zero;
        int i = 0;
        for (; i + 64 <= columns; i += 64)
        {
            Vector512<ushort> w0 = Vector512.Load(w + i), w1 = Vector512.Load(w + i + 32);
            acc0 = Vector512.FusedMultiplyAdd(
                HalfToSingle(Vector512.WidenLower(w0)), TActivations.Load512(activations, i), acc0);
            acc1 = Vector512.FusedMultiplyAdd(
                HalfToSingle(Vector512.WidenUpper(w0)), TActivations.Load512(activations, i + 16), acc1);
            acc2 = Vector512.FusedMultiplyAdd(
                HalfToSingle(Vector512.WidenLower(w1)), TActivations.Load512(activations, i + 32), acc2);
            acc3 = Vector512.FusedMultiplyAdd(
                HalfToSingle(Vector512.WidenUpper(w1)), TActivations.Load512(activations, i + 48), acc3);
        }
        double sum = GgmlReductions.F32x16(acc0, acc1, acc2, acc3);
        return (float)AddLeftoversInDouble<TActivations>(sum, w, activations, i, columns);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double AddLeftoversInDouble<TActivations>(double sum, ushort* w, byte* activations, int start, int end)
        where TActivations : struct, IActivationRow
    {
        for (int i = start; i < end; i++)
        {
            sum += ToSingle(w[i]) * TActivations.Load(activations, i);
        }
        return sum;
    }

    /// <summary>How a kernel reads activation element i (and the vectors starting there) as float.</summary>
    internal interface IActivationRow
    {
        static abstract float Load(byte* row, int index);
        static abstract Vector128<float> Load128(byte* row, int index);
        static abstract Vector256<float> Load256(byte* row, int index);
        static abstract Vector512<float> Load512(byte* row, int index);
    }

    /// <summary>Activations stored as F16 bits (the public F16 x F16 dot).</summary>
    internal readonly struct HalfActivations : IActivationRow
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(byte* row, int index) => ToSingle(((ushort*)row)[index]);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Load128(byte* row, int index) =>
            HalfToSingle(Vector128.WidenLower(Vector128.Load((ushort*)row + index)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load256(byte* row, int index) =>
            HalfToSingle(Vector256.WidenLower(Vector128.Load((ushort*)row + index).ToVector256Unsafe()));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load512(byte* row, int index) =>
            HalfToSingle(Vector512.WidenLower(Vector256.Load((ushort*)row + index).ToVector512Unsafe()));
    }

    /// <summary>Activations already rounded to half values, stored as floats.</summary>
    internal readonly struct RoundedSingleActivations : IActivationRow
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(byte* row, int index) => ((float*)row)[index];

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Load128(byte* row, int index) => Vector128.Load((float*)row + index);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load256(byte* row, int index) => Vector256.Load((float*)row + index);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load512(byte* row, int index) => Vector512.Load((float*)row + index);
    }

    // Vector half -> float on widened 32-bit lanes, exact for every half: the 15 magnitude bits are moved under
    // the float exponent/mantissa fields and multiplied by 2^112, which re-biases the exponent (15 -> 127) and
    // normalizes subnormal halves in one exact multiply; halves that were Inf/NaN (now >= 2^16) get the all-ones
    // exponent back; the sign is copied last.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> HalfToSingle(Vector128<uint> halves)
    {
        Vector128<float> magnitude = ((halves & Vector128.Create(0x7FFFu)) << 13).AsSingle() * Vector128.Create(ScaleToInfinity);
        Vector128<uint> infinityOrNaN = Vector128.GreaterThanOrEqual(magnitude, Vector128.Create(65536f)).AsUInt32();
        Vector128<uint> bits = magnitude.AsUInt32() | (infinityOrNaN & Vector128.Create(0x7F800000u));
        return (bits | ((halves & Vector128.Create(0x8000u)) << 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> HalfToSingle(Vector256<uint> halves)
    {
        Vector256<float> magnitude = ((halves & Vector256.Create(0x7FFFu)) << 13).AsSingle() * Vector256.Create(ScaleToInfinity);
        Vector256<uint> infinityOrNaN = Vector256.GreaterThanOrEqual(magnitude, Vector256.Create(65536f)).AsUInt32();
        Vector256<uint> bits = magnitude.AsUInt32() | (infinityOrNaN & Vector256.Create(0x7F800000u));
        return (bits | ((halves & Vector256.Create(0x8000u)) << 16)).AsSingle();
    }

    /// <summary>
    /// <see cref="HalfToSingle(Vector512{uint})"/> for finite halves only (normal, subnormal, zero), given
    /// sign-extended to 32 bits (vpmovsxwd): x &lt;&lt; 13 puts exponent and mantissa in bits 13-27 and copies of the
    /// sign in 28-31; clearing 28-30 leaves a float of the right sign that is the half's value x 2^-112, so one
    /// exact 2^112 scaling finishes it (three operations, where masking the sign apart takes six). Wrong for
    /// Inf / NaN (exponent 0x1F), which callers check for themselves.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> FiniteSignExtendedHalfToSingle(Vector512<int> halves) =>
        ((halves << 13) & Vector512.Create(unchecked((int)0x8FFFFFFF))).AsSingle() * Vector512.Create(ScaleToInfinity);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> HalfToSingle(Vector512<uint> halves)
    {
        Vector512<float> magnitude = ((halves & Vector512.Create(0x7FFFu)) << 13).AsSingle() * Vector512.Create(ScaleToInfinity);
        Vector512<uint> infinityOrNaN = Vector512.GreaterThanOrEqual(magnitude, Vector512.Create(65536f)).AsUInt32();
        Vector512<uint> bits = magnitude.AsUInt32() | (infinityOrNaN & Vector512.Create(0x7F800000u));
        return (bits | ((halves & Vector512.Create(0x8000u)) << 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float TailScalar<TActivations>(ushort* w, byte* activations, int start, int end)
        where TActivations : struct, IActivationRow
    {
        float sum = 0f;
        for (int i = start; i < end; i++)
        {
            sum += ToSingle(w[i]) * TActivations.Load(activations, i);
        }
        return sum;
    }
}
