using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// GGML_TYPE_BF16: bfloat16 (the top 16 bits of a float), 2 bytes per element. ggml pairs BF16 weights with
/// BF16 activations and accumulates the float products in float.
/// </summary>
public static unsafe class BF16Format
{
    /// <summary>Elements per block (plain types have blocks of one).</summary>
    public const int BlockSize = 1;

    /// <summary>Bytes per block.</summary>
    public const int BlockBytes = 2;

    /// <summary>
    /// float -> bf16 bits like ggml's <c>ggml_compute_fp32_to_bf16</c>: NaN keeps its top bits and is forced quiet
    /// (bit 6 of the result set); everything else rounds to nearest even, overflowing to infinity; subnormals are
    /// rounded, not flushed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromSingle(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFFFFFFu) > 0x7F800000u)
        {
            return (ushort)((bits >> 16) | 64u);
        }
        return (ushort)((bits + (0x7FFFu + ((bits >> 16) & 1u))) >> 16);
    }

    /// <summary>bf16 bits -> float, exact: the bits become the high half of the float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>Rounds each float of <paramref name="source"/> to bf16 and stores the 2-byte bit patterns.</summary>
    public static void QuantizeRow(ReadOnlySpan<float> source, Span<byte> destination)
    {
        RowArguments.RequireBytes(destination.Length, (long)source.Length * BlockBytes, "BF16", nameof(destination));
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

    /// <summary>Widens <c>destination.Length</c> bf16 values from <paramref name="source"/> to float.</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination)
    {
        RowArguments.RequireBytes(source.Length, (long)destination.Length * BlockBytes, "BF16", nameof(source));
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

    /// <summary>Dot product of <paramref name="columns"/> BF16 weights with BF16 activations, best SIMD level.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns) =>
        Dot(weights, activations, columns, SimdCapabilities.Best);

    /// <summary>Dot product at a chosen <paramref name="level"/>.</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns, SimdLevel level)
    {
        return RowArguments.Dot(weights, activations, columns, BlockSize, "BF16", BlockBytes, "BF16", BlockBytes, DotKernel(level));
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

    /// <summary>Reference: each pair widened to float, multiplied, summed left to right in float.</summary>
    internal static float DotScalar(byte* weights, byte* activations, int columns) =>
        TailScalar((ushort*)weights, (ushort*)activations, 0, columns);

    internal static float DotVector128(byte* weights, byte* activations, int columns)
    {
        ushort* w = (ushort*)weights;
        ushort* a = (ushort*)activations;
        Vector128<float> acc0 = Vector128<float>.Zero, acc1 = Vector128<float>.Zero;
        int i = 0;
        for (; i + 8 <= columns; i += 8)
        {
            Vector128<ushort> wh = Vector128.Load(w + i);
            Vector128<ushort> ah = Vector128.Load(a + i);
            acc0 = Vector128.MultiplyAddEstimate(
                Widen(Vector128.WidenLower(wh)), Widen(Vector128.WidenLower(ah)), acc0);
            acc1 = Vector128.MultiplyAddEstimate(
                Widen(Vector128.WidenUpper(wh)), Widen(Vector128.WidenUpper(ah)), acc1);
        }
        return Vector128.Sum(acc0 + acc1) + TailScalar(w, a, i, columns);
    }

    /// <summary>
    /// ggml_vec_dot_bf16 on AVX2: 32 per step into four 8-lane accumulators with separate multiply and add
    /// (no FMA, as ggml writes it), reduced as (c1 + c3) + (c2 + c4) in hsum order, leftovers added in double.
    /// </summary>
    internal static float DotVector256(byte* weights, byte* activations, int columns)
    {
        ushort* w = (ushort*)weights;
        ushort* a = (ushort*)activations;
        Vector256<float> c1 = Vector256<float>.Zero, c2 = Vector256<float>.Zero;
        Vector256<float> c3 = Vector256<float>.Zero, c4 = Vector256<float>.Zero;
        int i = 0;
        for (; i + 32 <= columns; i += 32)
        {
            Vector256<ushort> w0 = Vector256.Load(w + i), w1 = Vector256.Load(w + i + 16);
            Vector256<ushort> a0 = Vector256.Load(a + i), a1 = Vector256.Load(a + i + 16);
            c1 = Widen(Vector256.WidenLower(w0)) * Widen(Vector256.WidenLower(a0)) + c1;
            c2 = Widen(Vector256.WidenUpper(w0)) * Widen(Vector256.WidenUpper(a0)) + c2;
            c3 = Widen(Vector256.WidenLower(w1)) * Widen(Vector256.WidenLower(a1)) + c3;
            c4 = Widen(Vector256.WidenUpper(w1)) * Widen(Vector256.WidenUpper(a1)) + c4;
        }
        double sum = GgmlReductions.Bf16x8(c1, c2, c3, c4);
        return (float)AddLeftoversInDouble(sum, w, a, i, columns);
    }

    /// <summary>
    /// ggml_vec_dot_bf16 on AVX-512F: two 16-lane accumulators (multiply then add), each reduced with
    /// _mm512_reduce_add_ps and added to a double, leftovers added in double.
    /// </summary>
    internal static float DotVector512(byte* weights, byte* activations, int columns)
    {
        ushort* w = (ushort*)weights;
        ushort* a = (ushort*)activations;
        Vector512<float> c1 = Vector512<float>.Zero, c2 = Vector512<float>.Zero;
        int i = 0;
        for (; i + 32 <= columns; i += 32)
        {
            Vector512<ushort> wh = Vector512.Load(w + i);
            Vector512<ushort> ah = Vector512.Load(a + i);
            c1 = Widen(Vector512.WidenLower(wh)) * Widen(Vector512.WidenLower(ah)) + c1;
            c2 = Widen(Vector512.WidenUpper(wh)) * Widen(Vector512.WidenUpper(ah)) + c2;
        }
        double sum = 0.0;
        sum += GgmlReductions.ReduceAdd(c1);
        sum += GgmlReductions.ReduceAdd(c2);
        return (float)AddLeftoversInDouble(sum, w, a, i, columns);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double AddLeftoversInDouble(double sum, ushort* w, ushort* a, int start, int end)
    {
        for (int i = start; i < end; i++)
        {
            sum += ToSingle(w[i]) * ToSingle(a[i]);
        }
        return sum;
    }

    // bf16 -> float on widened 32-bit lanes: the 16 bits become the high half.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Widen(Vector128<uint> bits) => (bits << 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Widen(Vector256<uint> bits) => (bits << 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Widen(Vector512<uint> bits) => (bits << 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float TailScalar(ushort* w, ushort* a, int start, int end)
    {
        float sum = 0f;
        for (int i = start; i < end; i++)
        {
            sum += ToSingle(w[i]) * ToSingle(a[i]);
        }
        return sum;
    }
}
