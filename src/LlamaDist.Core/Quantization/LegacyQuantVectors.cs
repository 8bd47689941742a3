using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Unpacking and unsigned-by-signed int8 dot steps shared by the Q4_1, Q5_0 and Q5_1 kernels, each mirroring
/// the ggml x86 helper of the same purpose (bytes_from_nibbles_32, bytes_from_bits_32, mul_sum_us8_pairs_float).
/// </summary>
internal static unsafe class LegacyQuantVectors
{
    /// <summary>
    /// 16 packed bytes -> 32 unsigned nibbles in element order: low nibbles (elements 0..15) in the lower 128 bits,
    /// high nibbles (16..31) in the upper (ggml's bytes_from_nibbles_32).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Nibbles(byte* packed16)
    {
        Vector128<byte> packed = Vector128.Load(packed16);
        return Vector256.Create(packed, (packed.AsUInt16() >> 4).AsByte()) & Vector256.Create((byte)0x0F);
    }

    /// <summary>
    /// 32 bits (little-endian uint at <paramref name="bits"/>) -> 32 bytes, byte j = 0xFF when bit j is set,
    /// else 0 (ggml's bytes_from_bits_32).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> BitsToBytes(byte* bits)
    {
        Vector256<byte> broadcast = Vector256.Create(Unsafe.ReadUnaligned<uint>(bits)).AsByte();
        // Byte j takes source byte j / 8 (the same 4 bytes sit in both 128-bit lanes, so vpshufb suffices).
        Vector256<byte> spread = Avx2.Shuffle(broadcast, Vector256.Create(
            (byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
        Vector256<byte> bitMask = Vector256.Create(0x8040201008040201UL).AsByte();
        return Vector256.Equals(spread & bitMask, bitMask);
    }

    /// <summary>
    /// AVX2: 32 products of unsigned <paramref name="x"/> (at most 31) and signed <paramref name="y"/> bytes,
    /// summed in groups of four into 8 int32 lanes, as float (ggml's mul_sum_us8_pairs_float; exact, since a
    /// pair sum is at most 2 * 31 * 128 and cannot saturate the int16 step).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MulSumUnsignedPairs(Vector256<byte> x, Vector256<sbyte> y) =>
        Avx.ConvertToVector256Single(Int8Dot.SumQuads(x, y));

    /// <summary>The 32 high bits of a Q5 block as a scalar, one bit per element.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint HighBits(byte* qh) => Unsafe.ReadUnaligned<uint>(qh);

    /// <summary>
    /// Portable 128-bit step: the 32 element values of a block (already unpacked to <paramref name="low"/> =
    /// elements 0..15 and <paramref name="high"/> = 16..31, each fitting in a signed byte) times the 32 activation
    /// quants, summed exactly into 4 int32 lanes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> MulSumBlock128(Vector128<sbyte> low, Vector128<sbyte> high, sbyte* activations) =>
        Int8Dot.MulSum(low, Vector128.Load(activations)) + Int8Dot.MulSum(high, Vector128.Load(activations + 16));

    /// <summary>Bits 0..15 and 16..31 of <paramref name="bits"/> as 0x10 / 0x00 bytes (the fifth bit of each quant).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (Vector128<byte> Low, Vector128<byte> High) FifthBits128(uint bits)
    {
        Vector128<byte> mask = Vector128.Create((byte)1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
        Vector128<byte> low = Vector128.Create(
            Vector64.Create((byte)bits), Vector64.Create((byte)(bits >> 8)));
        Vector128<byte> high = Vector128.Create(
            Vector64.Create((byte)(bits >> 16)), Vector64.Create((byte)(bits >> 24)));
        Vector128<byte> fifth = Vector128.Create((byte)0x10);
        return (Vector128.Equals(low & mask, mask) & fifth, Vector128.Equals(high & mask, mask) & fifth);
    }
}
