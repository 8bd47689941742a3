using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public unsafe class TransposedReductionsTests
{
    // Random floats of mixed magnitudes (so the order of additions shows in the last bits), with a NaN, infinities
    // of both signs and negative zeros in some vectors.
    private static float[] Accumulators(int count, int seed)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-4, 5)));
        }
        values[3 * (count / 16) + 5] = float.NaN;
        values[5 * (count / 16) + 1] = float.PositiveInfinity;
        values[6 * (count / 16) + 2] = float.NegativeInfinity;
        values[9 * (count / 16) + 7] = BitConverter.UInt32BitsToSingle(0xFFC01234u); // a NaN with a payload
        for (int i = 11 * (count / 16); i < 12 * (count / 16); i++)
        {
            values[i] = -0f;
        }
        return values;
    }

    [SkippableTheory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Sixteen_sums_at_once_equal_ReduceAdd_of_each_bit_for_bit(int seed)
    {
        Skip.IfNot(Avx512F.IsSupported, "This CPU does not run AVX-512.");
        float[] values = Accumulators(16 * 16 + 1, seed); // one float more: the vectors start unaligned below
        var sums = new float[16];
        fixed (float* source = values)
        fixed (float* destination = sums)
        {
            TransposedReductions.ReduceAdd16(source + 1, destination);
            for (int i = 0; i < 16; i++)
            {
                float expected = GgmlReductions.ReduceAdd(Vector512.Load(source + 1 + i * 16));
                Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(sums[i]),
                    $"vector {i}: {sums[i]:R} vs {expected:R}");
            }
        }
    }

    [SkippableTheory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Eight_sums_at_once_equal_HorizontalSum_of_each_bit_for_bit(int seed)
    {
        Skip.IfNot(Avx2.IsSupported, "This CPU does not run AVX2.");
        float[] values = Accumulators(8 * 8 * 2 + 1, seed);
        var sums = new float[8];
        fixed (float* source = values)
        fixed (float* destination = sums)
        {
            TransposedReductions.HorizontalSum8(source + 1, destination);
            for (int i = 0; i < 8; i++)
            {
                float expected = Int8Dot.HorizontalSum(Vector256.Load(source + 1 + i * 8));
                Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(sums[i]),
                    $"vector {i}: {sums[i]:R} vs {expected:R}");
            }
        }
    }

    [SkippableTheory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Eight_F32x8_tails_at_once_equal_F32x8_of_each_bit_for_bit(int seed)
    {
        Skip.IfNot(Avx2.IsSupported, "This CPU does not run AVX2.");
        float[] values = Accumulators(8 * 8 * 2 + 1, seed);
        var sums = new float[8];
        // Negative zeros in the other three accumulators leave F32x8's first two adds exact (x + -0 is x, signs and
        // NaN payloads included), so F32x8(v, -0, -0, -0) is the tail alone.
        Vector256<float> negativeZero = Vector256.Create(-0f);
        fixed (float* source = values)
        fixed (float* destination = sums)
        {
            TransposedReductions.F32x8Tail8(source + 1, destination);
            for (int i = 0; i < 8; i++)
            {
                float expected = GgmlReductions.F32x8(Vector256.Load(source + 1 + i * 8), negativeZero, negativeZero,
                    negativeZero);
                Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(sums[i]),
                    $"vector {i}: {sums[i]:R} vs {expected:R}");
            }
        }
    }
}
