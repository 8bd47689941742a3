using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// AVX2 matrix kernels for Q4_1, Q5_0 and Q5_1 weights (32-element blocks against Q8_1 / Q8_0 activations). They
/// ran one single dot per output: a prompt unpacked every weight block once per token. Here a decode call takes
/// two rows far apart against one token (<see cref="DecodeRowPairs"/>; the activation block loaded once for both)
/// and a prompt call one row against four tokens (each weight block unpacked once for the four). For every (row,
/// token) the result is exactly the type's <c>DotVector256</c>: the same exact int32 lanes per block, the same
/// <c>fma</c> with the same scale product, the same scalar offset sum (Q4_1, Q5_1) and the same ending.
/// </summary>
internal static unsafe class LegacyTileKernels
{
    /// <summary>Whether these kernels run <paramref name="weightType"/>: the types above where the default level's single dot is the AVX2 one.</summary>
    public static bool IsSupportedFor(GgmlType weightType) =>
        weightType is GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 && Avx2.IsSupported && Fma.IsSupported &&
        Quantizer.DefaultLevel(weightType) >= SimdLevel.Vector256;

    /// <summary>Rows [start, end) against <paramref name="tokens"/> activation rows; output is [tokens, rows].</summary>
    public static void Rows(GgmlType type, byte* weights, long weightRowBytes, int rows, int columns,
        byte* activations, int activationRowBytes, int tokens, float* output, int start, int end)
    {
        switch (type)
        {
            case GgmlType.Q4_1:
                Rows<Q4_1Block>(weights, weightRowBytes, rows, columns, activations, activationRowBytes, tokens, output, start, end);
                break;
            case GgmlType.Q5_0:
                Rows<Q5_0Block>(weights, weightRowBytes, rows, columns, activations, activationRowBytes, tokens, output, start, end);
                break;
            case GgmlType.Q5_1:
                Rows<Q5_1Block>(weights, weightRowBytes, rows, columns, activations, activationRowBytes, tokens, output, start, end);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "No legacy tile kernels for this type.");
        }
    }

    private static void Rows<T>(byte* weights, long weightRowBytes, int rows, int columns,
        byte* activations, int activationRowBytes, int tokens, float* output, int start, int end) where T : struct, IBlock
    {
        int blocks = columns / 32;
        if (tokens == 1)
        {
            DecodeRowPairs.Run(&Dot2x1<T>, blocks, T.Single, columns, weights, weightRowBytes, activations, output, start, end);
            return;
        }
        FourTokenTiles.Run(&Dot1x4<T>, T.Single, blocks, columns, weights, weightRowBytes, rows, activations,
            activationRowBytes, tokens, output, start, end);
    }

    /// <summary>
    /// One weight type's block: how its 32 quants are unpacked once (<see cref="Prepare"/>), multiplied with one
    /// activation block (<see cref="Products"/>) and scaled into the accumulators (<see cref="Accumulate"/>), each
    /// step as the type's <c>DotVector256</c> does it.
    /// </summary>
    private interface IBlock
    {
        static abstract int BlockBytes { get; }
        static abstract int ActivationBlockBytes { get; }
        static abstract int ActivationQuantsOffset { get; }
        static abstract delegate*<byte*, byte*, int, float> Single { get; }

        /// <summary>The block's quants as the multiplier bytes, and the bytes whose signs apply to the activations (signed types).</summary>
        static abstract void Prepare(byte* block, out Vector256<byte> multiplier, out Vector256<sbyte> signs);

        /// <summary>The 8 float lanes of exact int32 sums of the 32 products with one activation block's quants.</summary>
        static abstract Vector256<float> Products(Vector256<byte> multiplier, Vector256<sbyte> signs, Vector256<sbyte> activations);

        /// <summary>The block's contribution: fma of its scale product into <paramref name="acc"/>, and its offset term.</summary>
        static abstract Vector256<float> Accumulate(Vector256<float> acc, Vector256<float> products, byte* block,
            byte* activationBlock, ref float offsets);
    }

    /// <summary>Q5_0: signed 5-bit quants (nibble | 0xF0 where the fifth bit is clear), Q8_0 activations.</summary>
    private readonly struct Q5_0Block : IBlock
    {
        public static int BlockBytes => Q5_0Format.BlockBytes;
        public static int ActivationBlockBytes => Q8_0Format.BlockBytes;
        public static int ActivationQuantsOffset => Q8_0Format.QuantsOffset;
        public static delegate*<byte*, byte*, int, float> Single => &Q5_0Format.DotVector256;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Prepare(byte* block, out Vector256<byte> multiplier, out Vector256<sbyte> signs)
        {
            Vector256<byte> bits = LegacyQuantVectors.BitsToBytes(block + Q5_0Format.HighBitsOffset);
            signs = (LegacyQuantVectors.Nibbles(block + Q5_0Format.QuantsOffset) |
                     Vector256.AndNot(Vector256.Create((byte)0xF0), bits)).AsSByte();
            multiplier = Avx2.Abs(signs); // Int8Dot.MulSumPairs' |x|, taken once for every token
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Products(Vector256<byte> multiplier, Vector256<sbyte> signs, Vector256<sbyte> activations) =>
            Avx.ConvertToVector256Single(Int8Dot.SumQuads(multiplier, Avx2.Sign(activations, signs)));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Accumulate(Vector256<float> acc, Vector256<float> products, byte* block,
            byte* activationBlock, ref float offsets) =>
            Fma.MultiplyAdd(Vector256.Create(Q8_0Format.Scale(block) * Q8_0Format.Scale(activationBlock)), products, acc);
    }

    /// <summary>
    /// Q4_1's and Q5_1's block step, as both single dots take it: the offset m * s (the block minimum times the
    /// activation block's scaled sum) into the scalar sum, and fma(d_w * d_a, products, acc) (Q5_1's dot writes
    /// fma(products, d_w * d_a, acc): the same product and the same single rounding).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> AccumulateWithMinimum(Vector256<float> acc, Vector256<float> products, byte* block,
        int minimumOffset, byte* activationBlock, ref float offsets)
    {
        offsets += Q8_0Format.Scale(block + minimumOffset) * Q8_1Format.ScaledSum(activationBlock);
        Vector256<float> scale = Vector256.Create(Q8_0Format.Scale(block)) * Vector256.Create(Q8_1Format.Scale(activationBlock));
        return Fma.MultiplyAdd(scale, products, acc);
    }

    /// <summary>Q4_1: unsigned nibbles with a block minimum, Q8_1 activations.</summary>
    private readonly struct Q4_1Block : IBlock
    {
        public static int BlockBytes => Q4_1Format.BlockBytes;
        public static int ActivationBlockBytes => Q8_1Format.BlockBytes;
        public static int ActivationQuantsOffset => Q8_1Format.QuantsOffset;
        public static delegate*<byte*, byte*, int, float> Single => &Q4_1Format.DotVector256;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Prepare(byte* block, out Vector256<byte> multiplier, out Vector256<sbyte> signs)
        {
            multiplier = LegacyQuantVectors.Nibbles(block + Q4_1Format.QuantsOffset);
            signs = default;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Products(Vector256<byte> multiplier, Vector256<sbyte> signs, Vector256<sbyte> activations) =>
            LegacyQuantVectors.MulSumUnsignedPairs(multiplier, activations);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Accumulate(Vector256<float> acc, Vector256<float> products, byte* block,
            byte* activationBlock, ref float offsets) =>
            AccumulateWithMinimum(acc, products, block, Q4_1Format.MinOffset, activationBlock, ref offsets);
    }

    /// <summary>Q5_1: unsigned 5-bit quants with a block minimum, Q8_1 activations.</summary>
    private readonly struct Q5_1Block : IBlock
    {
        public static int BlockBytes => Q5_1Format.BlockBytes;
        public static int ActivationBlockBytes => Q8_1Format.BlockBytes;
        public static int ActivationQuantsOffset => Q8_1Format.QuantsOffset;
        public static delegate*<byte*, byte*, int, float> Single => &Q5_1Format.DotVector256;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Prepare(byte* block, out Vector256<byte> multiplier, out Vector256<sbyte> signs)
        {
            multiplier = LegacyQuantVectors.Nibbles(block + Q5_1Format.QuantsOffset) |
                         (LegacyQuantVectors.BitsToBytes(block + Q5_1Format.HighBitsOffset) & Vector256.Create((byte)0x10));
            signs = default;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Products(Vector256<byte> multiplier, Vector256<sbyte> signs, Vector256<sbyte> activations) =>
            LegacyQuantVectors.MulSumUnsignedPairs(multiplier, activations);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Accumulate(Vector256<float> acc, Vector256<float> products, byte* block,
            byte* activationBlock, ref float offsets) =>
            AccumulateWithMinimum(acc, products, block, Q5_1Format.MinOffset, activationBlock, ref offsets);
    }

    /// <summary>Two rows (the second <paramref name="rowBytes"/> after the first) against one activation row; to y[0], y[1].</summary>
    private static void Dot2x1<T>(byte* w, long rowBytes, byte* a, int blocks, float* y) where T : struct, IBlock
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        float offsets0 = 0f, offsets1 = 0f;
        byte* w1 = w + rowBytes;
        for (int b = 0; b < blocks; b++)
        {
            Prefetch.Block(w, T.BlockBytes);
            Prefetch.Block(w1, T.BlockBytes);
            T.Prepare(w, out Vector256<byte> multiplier0, out Vector256<sbyte> signs0);
            T.Prepare(w1, out Vector256<byte> multiplier1, out Vector256<sbyte> signs1);
            Vector256<sbyte> activations = Vector256.Load((sbyte*)(a + T.ActivationQuantsOffset));
            acc0 = T.Accumulate(acc0, T.Products(multiplier0, signs0, activations), w, a, ref offsets0);
            acc1 = T.Accumulate(acc1, T.Products(multiplier1, signs1, activations), w1, a, ref offsets1);
            w += T.BlockBytes;
            w1 += T.BlockBytes;
            a += T.ActivationBlockBytes;
        }
        y[0] = Int8Dot.HorizontalSum(acc0) + offsets0;
        y[1] = Int8Dot.HorizontalSum(acc1) + offsets1;
    }

    /// <summary>One row against four activation rows <paramref name="aStride"/> bytes apart; to y[0], y[yStride], ...</summary>
    private static void Dot1x4<T>(byte* w, byte* a, long aStride, int blocks, float* y, long yStride) where T : struct, IBlock
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        float offsets0 = 0f, offsets1 = 0f, offsets2 = 0f, offsets3 = 0f;
        byte* a0 = a, a1 = a + aStride, a2 = a + 2 * aStride, a3 = a + 3 * aStride;
        int quants = T.ActivationQuantsOffset;
        for (int b = 0; b < blocks; b++)
        {
            T.Prepare(w, out Vector256<byte> multiplier, out Vector256<sbyte> signs);
            acc0 = T.Accumulate(acc0, T.Products(multiplier, signs, Vector256.Load((sbyte*)(a0 + quants))), w, a0, ref offsets0);
            acc1 = T.Accumulate(acc1, T.Products(multiplier, signs, Vector256.Load((sbyte*)(a1 + quants))), w, a1, ref offsets1);
            acc2 = T.Accumulate(acc2, T.Products(multiplier, signs, Vector256.Load((sbyte*)(a2 + quants))), w, a2, ref offsets2);
            acc3 = T.Accumulate(acc3, T.Products(multiplier, signs, Vector256.Load((sbyte*)(a3 + quants))), w, a3, ref offsets3);
            w += T.BlockBytes;
            a0 += T.ActivationBlockBytes;
            a1 += T.ActivationBlockBytes;
            a2 += T.ActivationBlockBytes;
            a3 += T.ActivationBlockBytes;
        }
        y[0] = Int8Dot.HorizontalSum(acc0) + offsets0;
        y[yStride] = Int8Dot.HorizontalSum(acc1) + offsets1;
        y[2 * yStride] = Int8Dot.HorizontalSum(acc2) + offsets2;
        y[3 * yStride] = Int8Dot.HorizontalSum(acc3) + offsets3;
    }
}
