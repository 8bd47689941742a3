using LlamaDist.Core.Gguf;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// AVX2 matrix kernels for Q4_0 and Q8_0 weights that give, for every (weight row, token) pair, exactly the
/// value <see cref="Q4_0Format.DotVector256"/> / <see cref="Q8_0Format.DotVector256"/> give (ggml's x86
/// vec_dot): the same exact int32 lane sums per block, the same <c>fma(d_w * d_x, lanes, acc)</c> sequence per
/// pair and the same horizontal sum. What changes is the work around it:
/// <list type="bullet">
/// <item>Activations are quantized once per matrix into an extended Q8_0 layout (<see cref="ExtBlockBytes"/>
/// per block): the 32 quants, the block's float scale (the fp16 scale already widened) and, for Q4_0, the
/// per-lane corrections 8 * (sum of four quants) and their total (<see cref="Q4_0RowGroups"/> uses it).</item>
/// <item>Q4_0 nibbles are used unsigned: <c>maddubs(nibble, q) - 8 * sum(q)</c> is the same exact lane sum as
/// ggml's <c>maddubs(|w - 8|, sign(q, w - 8))</c> with three fewer instructions per block.</item>
/// <item>Decoding: two weight rows per call. Q8_0 prompts: two weight rows against four tokens per call (eight
/// independent accumulators), so each weight block serves four tokens and each loaded activation block two
/// rows. Q4_0 prompts, and regrouped Q4_0 matrices, run through <see cref="Q4_0RowGroups"/> instead.</item>
/// </list>
/// </summary>
internal static unsafe class Q8TileKernels
{
    /// <summary>
    /// Bytes per extended activation block: 32 quants, 8 int32 per-lane corrections, the float scale and, for Q4_0,
    /// the whole block's correction 8 * (sum of the 32 quants) as an int32.
    /// </summary>
    public const int ExtBlockBytes = 72;

    /// <summary>Offset of the 8 int32 per-lane corrections (Q4_0 only).</summary>
    public const int CorrectionOffset = 32;

    /// <summary>Offset of the block's float scale.</summary>
    public const int ScaleOffset = 64;

    /// <summary>Offset of the int32 block correction 8 * sum(q) (Q4_0 only).</summary>
    public const int BlockCorrectionOffset = 68;

    /// <summary>Whether this CPU runs the kernels (AVX2 + FMA) and MatrixKernels' level for the type is AVX2.</summary>
    public static bool IsSupportedFor(GgmlType weightType) =>
        Avx2.IsSupported && Fma.IsSupported &&
        weightType is GgmlType.Q4_0 or GgmlType.Q8_0 &&
        Quantizer.DefaultLevel(weightType) == SimdLevel.Vector256;

    /// <summary>Extended activation row bytes for <paramref name="columns"/> (a multiple of 32).</summary>
    public static int ExtRowBytes(int columns) => columns / 32 * ExtBlockBytes;

    /// <summary>
    /// Quantizes one activation row exactly like <see cref="Q8_0Format.QuantizeActivationRow(float*, byte*, int)"/>
    /// (d = amax / 127 as fp16, q = round-to-even(x * 127 / amax)) into the extended layout.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void QuantizeRow(float* source, byte* destination, int columns, bool withCorrection)
    {
        int blocks = columns / 32;
        Vector256<float> signMask = Vector256.Create(-0f);
        for (int b = 0; b < blocks; b++)
        {
            float* x = source + b * 32;
            byte* block = destination + (long)b * ExtBlockBytes;
            Vector256<float> x0 = Vector256.Load(x), x1 = Vector256.Load(x + 8);
            Vector256<float> x2 = Vector256.Load(x + 16), x3 = Vector256.Load(x + 24);
            Vector256<float> m = Avx.Max(Avx.Max(Avx.AndNot(signMask, x0), Avx.AndNot(signMask, x1)),
                                         Avx.Max(Avx.AndNot(signMask, x2), Avx.AndNot(signMask, x3)));
            Vector128<float> m4 = Sse.Max(m.GetLower(), m.GetUpper());
            m4 = Sse.Max(m4, Sse.Shuffle(m4, m4, 0b01_00_11_10));
            m4 = Sse.Max(m4, Sse.Shuffle(m4, m4, 0b10_11_00_01));
            float amax = m4.ToScalar();
            *(float*)(block + ScaleOffset) = F16Format.ToSingle(F16Format.FromSingle(amax / 127f));
            float multiplier = amax != 0f ? 127f / amax : 0f;
            Vector256<float> mul = Vector256.Create(multiplier);
            Vector256<int> i0 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(x0 * mul));
            Vector256<int> i1 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(x1 * mul));
            Vector256<int> i2 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(x2 * mul));
            Vector256<int> i3 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(x3 * mul));
            Vector256<short> s01 = Avx2.PackSignedSaturate(i0, i1);
            Vector256<short> s23 = Avx2.PackSignedSaturate(i2, i3);
            Vector256<sbyte> q = Avx2.PackSignedSaturate(s01, s23);
            // The packs interleave 128-bit lanes: restore element order (ggml's permutevar8x32 step).
            q = Avx2.PermuteVar8x32(q.AsInt32(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsSByte();
            q.Store((sbyte*)block);
            if (withCorrection)
            {
                Vector256<int> correction = Int8Dot.SumQuads(Vector256.Create((byte)8), q);
                correction.Store((int*)(block + CorrectionOffset));
                *(int*)(block + BlockCorrectionOffset) = Vector256.Sum(correction);
            }
        }
    }

    /// <summary>
    /// 16 packed bytes -> 32 nibbles in element order (low nibbles in the lower 128 bits, high in the upper):
    /// one broadcast load, one per-lane variable shift, one mask.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles(byte* packed16)
    {
        Vector256<uint> both = Avx2.BroadcastVector128ToVector256(packed16).AsUInt32();
        Vector256<uint> shifted = Avx2.ShiftRightLogicalVariable(both, Vector256.Create(0u, 0, 0, 0, 4, 4, 4, 4));
        return shifted.AsByte() & Vector256.Create((byte)0x0F);
    }

    /// <summary>The weight block's fp16 scale widened through the table, broadcast.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> WeightScale(byte* block) => Vector256.Create(F16Format.ToSingle(*(ushort*)block));

    /// <summary>Exact lanes of sum((nibble - 8) * q) for one Q4_0 block against one extended activation block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Q4Lanes(Vector256<byte> nibbles, byte* activation)
    {
        Vector256<int> quads = Int8Dot.SumQuads(nibbles, Vector256.Load((sbyte*)activation));
        return Avx.ConvertToVector256Single(quads - Vector256.Load((int*)(activation + CorrectionOffset)));
    }

    /// <summary>Exact lanes of sum(w * q) for one Q8_0 block (|w| and w given) against one activation block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Q8Lanes(Vector256<byte> absoluteW, Vector256<sbyte> w, byte* activation)
    {
        Vector256<sbyte> signedA = Avx2.Sign(Vector256.Load((sbyte*)activation), w);
        return Avx.ConvertToVector256Single(Int8Dot.SumQuads(absoluteW, signedA));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step(Vector256<float> acc, float weightScale, byte* activation, Vector256<float> lanes) =>
        Fma.MultiplyAdd(Vector256.Create(weightScale * *(float*)(activation + ScaleOffset)), lanes, acc);

    /// <summary>One Q4_0 weight row against one extended activation row.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static float Q4_0Dot1(byte* w, byte* a, int blocks)
    {
        Vector256<float> acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            float dw = F16Format.ToSingle(*(ushort*)w);
            acc = Step(acc, dw, a, Q4Lanes(Nibbles(w + 2), a));
            w += Q4_0Format.BlockBytes;
            a += ExtBlockBytes;
        }
        return Int8Dot.HorizontalSum(acc);
    }

    /// <summary>
    /// Two Q4_0 weight rows (the second <paramref name="rowBytes"/> bytes after the first) against one activation row.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Q4_0Dot2x1(byte* w, long rowBytes, byte* a, int blocks, float* y)
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        byte* w1 = w + rowBytes;
        for (int b = 0; b < blocks; b++)
        {
            Prefetch.Line(w);
            Prefetch.Line(w1);
            Vector256<float> da = Vector256.Create(*(float*)(a + ScaleOffset));
            // (d_w * d_x) per lane is the same single rounding as the scalar product ggml broadcasts.
            acc0 = Fma.MultiplyAdd(WeightScale(w) * da, Q4Lanes(Nibbles(w + 2), a), acc0);
            acc1 = Fma.MultiplyAdd(WeightScale(w1) * da, Q4Lanes(Nibbles(w1 + 2), a), acc1);
            w += Q4_0Format.BlockBytes;
            w1 += Q4_0Format.BlockBytes;
            a += ExtBlockBytes;
        }
        y[0] = Int8Dot.HorizontalSum(acc0);
        y[1] = Int8Dot.HorizontalSum(acc1);
    }

    /// <summary>Horizontal sums of a 2 x 4 block: row i, token j to y[i + j * yStride].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store2x4(float* y, long yStride, Vector256<float> acc00, Vector256<float> acc01,
        Vector256<float> acc02, Vector256<float> acc03, Vector256<float> acc10, Vector256<float> acc11,
        Vector256<float> acc12, Vector256<float> acc13)
    {
        y[0] = Int8Dot.HorizontalSum(acc00);
        y[1] = Int8Dot.HorizontalSum(acc10);
        y += yStride;
        y[0] = Int8Dot.HorizontalSum(acc01);
        y[1] = Int8Dot.HorizontalSum(acc11);
        y += yStride;
        y[0] = Int8Dot.HorizontalSum(acc02);
        y[1] = Int8Dot.HorizontalSum(acc12);
        y += yStride;
        y[0] = Int8Dot.HorizontalSum(acc03);
        y[1] = Int8Dot.HorizontalSum(acc13);
    }

    /// <summary>One Q8_0 weight row against one extended activation row.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static float Q8_0Dot1(byte* w, byte* a, int blocks)
    {
        Vector256<float> acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            float dw = F16Format.ToSingle(*(ushort*)w);
            Vector256<sbyte> wq = Vector256.Load((sbyte*)(w + 2));
            acc = Step(acc, dw, a, Q8Lanes(Avx2.Abs(wq), wq, a));
            w += Q8_0Format.BlockBytes;
            a += ExtBlockBytes;
        }
        return Int8Dot.HorizontalSum(acc);
    }

    /// <summary>
    /// Two Q8_0 weight rows (the second <paramref name="rowBytes"/> bytes after the first) against one activation row.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Q8_0Dot2x1(byte* w, long rowBytes, byte* a, int blocks, float* y)
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        byte* w1 = w + rowBytes;
        for (int b = 0; b < blocks; b++)
        {
            Prefetch.Line(w);
            Prefetch.Line(w1);
            Vector256<float> da = Vector256.Create(*(float*)(a + ScaleOffset));
            Vector256<sbyte> wq0 = Vector256.Load((sbyte*)(w + 2));
            Vector256<sbyte> wq1 = Vector256.Load((sbyte*)(w1 + 2));
            acc0 = Fma.MultiplyAdd(WeightScale(w) * da, Q8Lanes(Avx2.Abs(wq0), wq0, a), acc0);
            acc1 = Fma.MultiplyAdd(WeightScale(w1) * da, Q8Lanes(Avx2.Abs(wq1), wq1, a), acc1);
            w += Q8_0Format.BlockBytes;
            w1 += Q8_0Format.BlockBytes;
            a += ExtBlockBytes;
        }
        y[0] = Int8Dot.HorizontalSum(acc0);
        y[1] = Int8Dot.HorizontalSum(acc1);
    }

    /// <summary>One Q8_0 weight row against four activation rows.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Q8_0Dot1x4(byte* w, byte* a, long aStride, int blocks, float* y, long yStride)
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        long aStride3 = aStride * 3;
        for (int b = 0; b < blocks; b++)
        {
            Prefetch.Line(w);
            float dw = F16Format.ToSingle(*(ushort*)w);
            Vector256<sbyte> wq = Vector256.Load((sbyte*)(w + 2));
            Vector256<byte> aw = Avx2.Abs(wq);
            acc0 = Step(acc0, dw, a, Q8Lanes(aw, wq, a));
            acc1 = Step(acc1, dw, a + aStride, Q8Lanes(aw, wq, a + aStride));
            acc2 = Step(acc2, dw, a + 2 * aStride, Q8Lanes(aw, wq, a + 2 * aStride));
            acc3 = Step(acc3, dw, a + aStride3, Q8Lanes(aw, wq, a + aStride3));
            w += Q8_0Format.BlockBytes;
            a += ExtBlockBytes;
        }
        y[0] = Int8Dot.HorizontalSum(acc0);
        y[yStride] = Int8Dot.HorizontalSum(acc1);
        y[2 * yStride] = Int8Dot.HorizontalSum(acc2);
        y[3 * yStride] = Int8Dot.HorizontalSum(acc3);
    }

    /// <summary>
    /// Two adjacent Q8_0 weight rows against four activation rows (eight accumulators): row i, token j
    /// goes to y[i + j * yStride].
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Q8_0Dot2x4(byte* w, long rowBytes, byte* a, long aStride, int blocks, float* y, long yStride)
    {
        Vector256<float> acc00 = Vector256<float>.Zero, acc01 = Vector256<float>.Zero;
        Vector256<float> acc02 = Vector256<float>.Zero, acc03 = Vector256<float>.Zero;
        Vector256<float> acc10 = Vector256<float>.Zero, acc11 = Vector256<float>.Zero;
        Vector256<float> acc12 = Vector256<float>.Zero, acc13 = Vector256<float>.Zero;
        byte* w1 = w + rowBytes;
        byte* a1 = a + aStride, a2 = a1 + aStride, a3 = a2 + aStride;
        for (int b = 0; b < blocks; b++)
        {
            Prefetch.Line(w);
            Prefetch.Line(w1);
            Vector256<float> dw0 = WeightScale(w), dw1 = WeightScale(w1);
            Vector256<sbyte> wq0 = Vector256.Load((sbyte*)(w + 2)), wq1 = Vector256.Load((sbyte*)(w1 + 2));
            Vector256<byte> aw0 = Avx2.Abs(wq0), aw1 = Avx2.Abs(wq1);
            Q8Pair(aw0, wq0, aw1, wq1, dw0, dw1, a, ref acc00, ref acc10);
            Q8Pair(aw0, wq0, aw1, wq1, dw0, dw1, a1, ref acc01, ref acc11);
            Q8Pair(aw0, wq0, aw1, wq1, dw0, dw1, a2, ref acc02, ref acc12);
            Q8Pair(aw0, wq0, aw1, wq1, dw0, dw1, a3, ref acc03, ref acc13);
            w += Q8_0Format.BlockBytes;
            w1 += Q8_0Format.BlockBytes;
            a += ExtBlockBytes;
            a1 += ExtBlockBytes;
            a2 += ExtBlockBytes;
            a3 += ExtBlockBytes;
        }
        Store2x4(y, yStride, acc00, acc01, acc02, acc03, acc10, acc11, acc12, acc13);
    }

    /// <summary>One activation block (loaded once) against two Q8_0 weight blocks (|w| and w given).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q8Pair(Vector256<byte> absoluteW0, Vector256<sbyte> wq0, Vector256<byte> absoluteW1,
        Vector256<sbyte> wq1, Vector256<float> dw0, Vector256<float> dw1, byte* activation,
        ref Vector256<float> acc0, ref Vector256<float> acc1)
    {
        Vector256<sbyte> q = Vector256.Load((sbyte*)activation);
        Vector256<float> da = Vector256.Create(*(float*)(activation + ScaleOffset));
        Vector256<int> quads = Int8Dot.SumQuads(absoluteW0, Avx2.Sign(q, wq0));
        acc0 = Fma.MultiplyAdd(dw0 * da, Avx.ConvertToVector256Single(quads), acc0);
        quads = Int8Dot.SumQuads(absoluteW1, Avx2.Sign(q, wq1));
        acc1 = Fma.MultiplyAdd(dw1 * da, Avx.ConvertToVector256Single(quads), acc1);
    }
}
