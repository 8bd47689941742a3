using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// GGML_TYPE_Q8_K: super-blocks of 256 elements, each <c>{ float d; int8 qs[256]; int16 bsums[16]; }</c> =
/// 292 bytes, value = qs[j] * d. bsums[g] is the sum of the 16 quants of group g, which the K-quant dots use to
/// apply the per-sub-block minimums without touching every element. Q8_K is only an activation format: it is the
/// partner ggml converts activations to before a Q2_K / Q3_K / Q4_K / Q5_K / Q6_K weight dot.
/// </summary>
public static unsafe class Q8_KFormat
{
    /// <summary>Elements per super-block (QK_K).</summary>
    public const int BlockSize = 256;

    /// <summary>Bytes per block: f32 scale + 256 signed bytes + 16 int16 group sums.</summary>
    public const int BlockBytes = 4 + BlockSize + 2 * (BlockSize / 16);

    /// <summary>Byte offset of the quants inside a block (after the f32 scale).</summary>
    public const int QuantsOffset = 4;

    /// <summary>Byte offset of the 16 int16 group sums (after the quants).</summary>
    public const int SumsOffset = QuantsOffset + BlockSize;

    /// <summary>
    /// Bit-exact port of ggml's <c>quantize_row_q8_K_ref</c> (which x86 <c>quantize_row_q8_K</c> calls): per block
    /// take the value with the largest magnitude (sign kept, first on ties), iscale = -127 / max,
    /// q = min(127, nearest_int(iscale * x)) with round-half-to-even, d = 1 / iscale; an all-zero block gets
    /// d = 0 and q = 0. The group sums are then taken over the stored quants.
    /// </summary>
    public static void QuantizeRow(ReadOnlySpan<float> source, Span<byte> destination)
    {
        int blocks = RowArguments.BlockCount(source.Length, BlockSize, "Q8_K", nameof(source));
        RowArguments.RequireBytes(destination.Length, (long)blocks * BlockBytes, "Q8_K", nameof(destination));
        fixed (float* src = source)
        fixed (byte* dst = destination)
        {
            QuantizeRow(src, dst, blocks);
        }
    }

    internal static void QuantizeRow(float* source, byte* destination, int blocks)
    {
        for (int b = 0; b < blocks; b++)
        {
            float* x = source + b * BlockSize;
            byte* block = destination + b * BlockBytes;
            if (!Avx2.IsSupported || !QuantizeBlockVector256(x, block))
            {
                QuantizeBlockScalar(x, block);
            }
        }
    }

    /// <summary>The reference loop for one block (see <see cref="QuantizeRow(ReadOnlySpan{float}, Span{byte})"/>).</summary>
    internal static void QuantizeBlockScalar(float* x, byte* block)
    {
        sbyte* q = (sbyte*)(block + QuantsOffset);
        short* sums = (short*)(block + SumsOffset);
        float max = KQuantFit.LargestMagnitude(x, BlockSize, out float amax);
        if (amax == 0f)
        {
            new Span<byte>(block, BlockBytes).Clear();
            return;
        }
        float inverseScale = -127f / max;
        for (int j = 0; j < BlockSize; j++)
        {
            int v = NearestInt(inverseScale * x[j]);
            q[j] = (sbyte)Math.Min(127, v);
        }
        for (int g = 0; g < BlockSize / 16; g++)
        {
            int sum = 0;
            for (int i = 0; i < 16; i++)
            {
                sum += q[g * 16 + i];
            }
            sums[g] = (short)sum;
        }
        Unsafe.WriteUnaligned(block, 1f / inverseScale);
    }

    /// <summary>
    /// AVX2 version of <see cref="QuantizeBlockScalar"/> with identical bytes: the largest magnitude by vector
    /// max, its first position by compare (the scalar loop keeps the first of equal magnitudes), the same
    /// float products, round-half-to-even (roundps) and the clamp at 127 (the packs saturate; nothing is below
    /// -127). Returns false, writing nothing, for a block holding NaN or infinity or so small that -127 / max
    /// overflows, which the scalar loop handles (its float-to-int conversions of NaN and infinity differ from
    /// cvtps2dq's).
    /// </summary>
    private static bool QuantizeBlockVector256(float* x, byte* block)
    {
        Vector256<float> signMask = Vector256.Create(-0f);
        Vector256<float> maximum = Vector256<float>.Zero;
        Vector256<float> unordered = Vector256<float>.Zero;
        for (int i = 0; i < BlockSize; i += 8)
        {
            Vector256<float> v = Vector256.Load(x + i);
            maximum = Avx.Max(Avx.AndNot(signMask, v), maximum);
            unordered = Avx.Or(unordered, Avx.CompareUnordered(v, v));
        }
        Vector128<float> m4 = Sse.Max(maximum.GetLower(), maximum.GetUpper());
        m4 = Sse.Max(m4, Sse.Shuffle(m4, m4, 0b01_00_11_10));
        m4 = Sse.Max(m4, Sse.Shuffle(m4, m4, 0b10_11_00_01));
        float amax = m4.ToScalar();
        if (Avx.MoveMask(unordered) != 0 || !float.IsFinite(amax))
        {
            return false;
        }
        if (amax == 0f)
        {
            new Span<byte>(block, BlockBytes).Clear();
            return true;
        }
        Vector256<float> amaxVector = Vector256.Create(amax);
        float max = 0f;
        for (int i = 0; i < BlockSize; i += 8)
        {
            Vector256<float> v = Vector256.Load(x + i);
            int mask = Avx.MoveMask(Avx.CompareEqual(Avx.AndNot(signMask, v), amaxVector));
            if (mask != 0)
            {
                max = x[i + BitOperations.TrailingZeroCount(mask)];
                break;
            }
        }
        float inverseScale = -127f / max;
        if (!float.IsFinite(inverseScale))
        {
            return false; // a block of subnormals: -127 / max overflows and the products are infinite or NaN
        }
        Vector256<float> multiplier = Vector256.Create(inverseScale);
        sbyte* q = (sbyte*)(block + QuantsOffset);
        short* sums = (short*)(block + SumsOffset);
        Vector256<int> order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
        for (int i = 0; i < BlockSize; i += 32)
        {
            Vector256<int> i0 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Vector256.Load(x + i) * multiplier));
            Vector256<int> i1 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Vector256.Load(x + i + 8) * multiplier));
            Vector256<int> i2 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Vector256.Load(x + i + 16) * multiplier));
            Vector256<int> i3 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Vector256.Load(x + i + 24) * multiplier));
            Vector256<sbyte> packed = Avx2.PackSignedSaturate(Avx2.PackSignedSaturate(i0, i1), Avx2.PackSignedSaturate(i2, i3));
            // The packs interleave 128-bit lanes: restore element order.
            packed = Avx2.PermuteVar8x32(packed.AsInt32(), order).AsSByte();
            packed.Store(q + i);
            // Sums of 16 quants: psadbw of the quants biased to unsigned gives sums of 8 (+ 8 * 128).
            Vector256<long> eights = Avx2.SumAbsoluteDifferences(
                (packed.AsByte() ^ Vector256.Create((byte)0x80)), Vector256<byte>.Zero).AsInt64();
            sums[i / 16] = (short)(eights.GetElement(0) + eights.GetElement(1) - 16 * 128);
            sums[i / 16 + 1] = (short)(eights.GetElement(2) + eights.GetElement(3) - 16 * 128);
        }
        Unsafe.WriteUnaligned(block, 1f / inverseScale);
        return true;
    }

    /// <summary>ggml's dequantize_row_q8_K: y = qs[j] * d.</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blocks = RowArguments.BlockCount(destination.Length, BlockSize, "Q8_K", nameof(destination));
        RowArguments.RequireBytes(source.Length, (long)blocks * BlockBytes, "Q8_K", nameof(source));
        fixed (byte* src = source)
        fixed (float* dst = destination)
        {
            for (int b = 0; b < blocks; b++)
            {
                byte* block = src + b * BlockBytes;
                float d = Scale(block);
                sbyte* q = (sbyte*)(block + QuantsOffset);
                float* y = dst + b * BlockSize;
                for (int j = 0; j < BlockSize; j++)
                {
                    y[j] = q[j] * d;
                }
            }
        }
    }

    /// <summary>The f32 scale d at the start of a block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Scale(byte* block) => Unsafe.ReadUnaligned<float>(block);

    /// <summary>ggml's nearest_int: round half to even (the 1.5 * 2^23 trick), valid for |x| &lt; 2^22.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int NearestInt(float value) => (int)MathF.Round(value, MidpointRounding.ToEven);
}
