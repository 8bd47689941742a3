using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// The K-quant decode kernels (two weight rows against one token) with both rows in one 512-bit register: row 0 in
/// the low 256 bits, row 1 in the high 256 bits, the token's activations broadcast to both. Each half runs exactly
/// the AVX2 kernel's operations for its row (<see cref="KQuantTileKernels"/>, <see cref="Q3_KTileKernels"/>): the
/// same int16 pair sums, int32 lanes, per-block fma and ending, so every result is the single dot's, bit for bit.
/// Only the instruction count changes: one 512-bit operation where the AVX2 kernel issues two 256-bit ones. Where a
/// core executes 512-bit integer operations at full width (this EPYC ran vpmaddubsw at the same rate per
/// instruction on zmm as on ymm, twice the bytes), kernels bound by their operations rather than by memory get
/// faster; where a core splits them in two, they cost about what the AVX2 kernels do. Chosen by
/// <see cref="KQuantTileKernels.Rows"/> when <see cref="IsSupported"/>. Q5_K has none: its per-block minimum
/// terms and scalar sums, not the quants, bound it, and a 512-bit version read its weights about 8% slower from
/// memory on two threads (26.2-26.5 against 28.5-29.4 GB/s).
/// </summary>
internal static unsafe class KQuantPairKernels512
{
    /// <summary>AVX-512BW, with the runtime's best level at 512 bits (off with DOTNET_EnableAVX512=0).</summary>
    public static bool IsSupported => Avx512BW.IsSupported && Fma.IsSupported && SimdCapabilities.Best == SimdLevel.Vector512;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Rows(byte* row0, byte* row1) => Vector512.Create(Vector256.Load(row0), Vector256.Load(row1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> Broadcast(sbyte* activations) => Vector512.Create(Vector256.Load(activations));

    /// <summary>acc + (d_a * d_w0 in the low half, d_a * d_w1 in the high half) x lanes, as each AVX2 kernel's fma.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Scale(Vector512<float> acc, float da, float dw0, float dw1, Vector512<int> lanes) =>
        Avx512F.FusedMultiplyAdd(Vector512.Create(Vector256.Create(da * dw0), Vector256.Create(da * dw1)),
            Avx512F.ConvertToVector512Single(lanes), acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> ScaledPairs(Vector512<short> scales, Vector512<byte> control, Vector512<short> products) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.Shuffle(scales.AsByte(), control).AsInt16(), products);

    // ---------------------------------------------------------------------------------------------- Q6_K

    /// <summary>Q6_K group k's unsigned quants for both rows (<see cref="KQuantTileKernels"/>' Q6_KUnsigned per half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Q6_KUnsigned(Vector512<byte> bits1, Vector512<byte> bits2, Vector512<byte> highBits, int k)
    {
        Vector512<byte> lowMask = Vector512.Create((byte)0x0F);
        Vector512<byte> highMask = Vector512.Create((byte)0x30);
        Vector512<byte> nibbles = k switch
        {
            0 => bits1 & lowMask,
            1 => bits2 & lowMask,
            2 => (bits1.AsUInt16() >> 4).AsByte() & lowMask,
            _ => (bits2.AsUInt16() >> 4).AsByte() & lowMask,
        };
        Vector512<byte> high = k switch
        {
            0 => (highBits.AsUInt16() << 4).AsByte() & highMask,
            1 => (highBits.AsUInt16() << 2).AsByte() & highMask,
            2 => highBits & highMask,
            _ => (highBits.AsUInt16() >> 2).AsByte() & highMask,
        };
        return nibbles | high;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Q6_KGroup(Vector512<byte> bits1, Vector512<byte> bits2, Vector512<byte> highBits, int k,
        Vector512<short> scales, Vector512<byte> control, sbyte* a)
    {
        Vector512<sbyte> activation = Broadcast(a + 32 * k);
        Vector512<short> offsets = Avx512BW.MultiplyAddAdjacent(Vector512.Create((byte)32), activation);
        Vector512<short> products = Avx512BW.Subtract(
            Avx512BW.MultiplyAddAdjacent(Q6_KUnsigned(bits1, bits2, highBits, k), activation), offsets);
        return ScaledPairs(scales, control, products);
    }

    /// <summary><see cref="KQuantTileKernels.Q6_KDot2x1"/> with both rows in one register.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Q6_KDot2x1(byte* w, long rowBytes, byte* a, int blocks, float* y)
    {
        Vector512<float> acc = Vector512<float>.Zero;
        Vector512<byte> two = Vector512.Create((byte)2);
        byte* w1 = w + rowBytes;
        for (int b = 0; b < blocks; b++)
        {
            Prefetch.Block(w, Q6_KFormat.BlockBytes);
            Prefetch.Block(w1, Q6_KFormat.BlockBytes);
            Vector512<short> scales = Vector512.Create(KQuantTileKernels.Q6_KWideScales(w + Q6_KFormat.ScalesOffset),
                KQuantTileKernels.Q6_KWideScales(w1 + Q6_KFormat.ScalesOffset));
            sbyte* q = (sbyte*)(a + Q8_KFormat.QuantsOffset);
            Vector512<int> sum = Vector512<int>.Zero;
            Vector512<byte> control = Vector512.Create((ushort)0x0100).AsByte();
            for (int half = 0; half < 2; half++)
            {
                Vector512<byte> bits1 = Rows(w + 64 * half, w1 + 64 * half);
                Vector512<byte> bits2 = Rows(w + 64 * half + 32, w1 + 64 * half + 32);
                Vector512<byte> highBits = Rows(w + Q6_KFormat.HighBitsOffset + 32 * half, w1 + Q6_KFormat.HighBitsOffset + 32 * half);
                sbyte* activation = q + 128 * half;
                // Unrolled by hand: constant k folds the nibble / high-bit selection of each group.
                sum = Avx512F.Add(sum, Q6_KGroup(bits1, bits2, highBits, 0, scales, control, activation));
                control = Avx512BW.Add(control, two);
                sum = Avx512F.Add(sum, Q6_KGroup(bits1, bits2, highBits, 1, scales, control, activation));
                control = Avx512BW.Add(control, two);
                sum = Avx512F.Add(sum, Q6_KGroup(bits1, bits2, highBits, 2, scales, control, activation));
                control = Avx512BW.Add(control, two);
                sum = Avx512F.Add(sum, Q6_KGroup(bits1, bits2, highBits, 3, scales, control, activation));
                control = Avx512BW.Add(control, two);
            }
            acc = Scale(acc, Q8_KFormat.Scale(a), Q4_KFormat.Half(w + Q6_KFormat.ScaleOffset), Q4_KFormat.Half(w1 + Q6_KFormat.ScaleOffset), sum);
            w += Q6_KFormat.BlockBytes;
            w1 += Q6_KFormat.BlockBytes;
            a += Q8_KFormat.BlockBytes;
        }
        y[0] = Int8Dot.HorizontalSum(acc.GetLower());
        y[1] = Int8Dot.HorizontalSum(acc.GetUpper());
    }

    // ---------------------------------------------------------------------------------------------- Q3_K

    /// <summary>Q3_K group k of a half for both rows: the 2-bit quants and 4 where the high bit is clear (<see cref="Q3_KTileKernels"/>' Quants).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Q3_KGroup(Vector512<byte> bits, Vector512<byte> highBits, int k, int highBit,
        Vector512<short> scales, Vector512<byte> control, sbyte* a)
    {
        Vector512<byte> twoBits = Vector512.Create((byte)3);
        Vector512<byte> low = k == 0 ? bits & twoBits : (bits.AsUInt16() >> (2 * k)).AsByte() & twoBits;
        Vector512<byte> atBit2 = highBit switch
        {
            < 2 => (highBits.AsUInt16() << (2 - highBit)).AsByte(),
            2 => highBits,
            _ => (highBits.AsUInt16() >> (highBit - 2)).AsByte(),
        };
        Vector512<byte> missing = Avx512F.AndNot(atBit2, Vector512.Create((byte)4));
        Vector512<sbyte> activation = Broadcast(a + 32 * k);
        Vector512<short> products = Avx512BW.Subtract(
            Avx512BW.MultiplyAddAdjacent(low, activation), Avx512BW.MultiplyAddAdjacent(missing, activation));
        return ScaledPairs(scales, control, products);
    }

    /// <summary><see cref="Q3_KTileKernels.Q3_KDot2x1"/> with both rows in one register.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Q3_KDot2x1(byte* w, long rowBytes, byte* a, int blocks, float* y)
    {
        Vector512<float> acc = Vector512<float>.Zero;
        Vector512<byte> two = Vector512.Create((byte)2);
        byte* w1 = w + rowBytes;
        for (int b = 0; b < blocks; b++)
        {
            Prefetch.Block(w, Q3_KFormat.BlockBytes);
            Prefetch.Block(w1, Q3_KFormat.BlockBytes);
            Q3_KTileKernels.Scales2x1(w, w1, out Vector256<short> scales0, out Vector256<short> scales1);
            Vector512<short> scales = Vector512.Create(scales0, scales1);
            Vector512<byte> highBits = Rows(w, w1);
            sbyte* q = (sbyte*)(a + Q8_KFormat.QuantsOffset);
            Vector512<int> sum = Vector512<int>.Zero;
            Vector512<byte> control = Vector512.Create((ushort)0x0100).AsByte();
            for (int half = 0; half < 2; half++)
            {
                Vector512<byte> bits = Rows(w + Q3_KFormat.QuantsOffset + 32 * half, w1 + Q3_KFormat.QuantsOffset + 32 * half);
                sbyte* activation = q + 128 * half;
                // Unrolled by hand: constant k folds the shifts of each group (the JIT unrolls the halves).
                sum = Avx512F.Add(sum, Q3_KGroup(bits, highBits, 0, 4 * half, scales, control, activation));
                control = Avx512BW.Add(control, two);
                sum = Avx512F.Add(sum, Q3_KGroup(bits, highBits, 1, 4 * half + 1, scales, control, activation));
                control = Avx512BW.Add(control, two);
                sum = Avx512F.Add(sum, Q3_KGroup(bits, highBits, 2, 4 * half + 2, scales, control, activation));
                control = Avx512BW.Add(control, two);
                sum = Avx512F.Add(sum, Q3_KGroup(bits, highBits, 3, 4 * half + 3, scales, control, activation));
                control = Avx512BW.Add(control, two);
            }
            acc = Scale(acc, Q8_KFormat.Scale(a), Q4_KFormat.Half(w + Q3_KFormat.ScaleOffset), Q4_KFormat.Half(w1 + Q3_KFormat.ScaleOffset), sum);
            w += Q3_KFormat.BlockBytes;
            w1 += Q3_KFormat.BlockBytes;
            a += Q8_KFormat.BlockBytes;
        }
        y[0] = Int8Dot.HorizontalSum(acc.GetLower());
        y[1] = Int8Dot.HorizontalSum(acc.GetUpper());
    }
}
