using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public class BF16FormatTests
{
    [Theory]
    [InlineData(0x3F800000u, 0x3F80)] // 1.0
    [InlineData(0x3F808000u, 0x3F80)] // tie, even low bit stays
    [InlineData(0x3F818000u, 0x3F82)] // tie, odd low bit rounds up
    [InlineData(0x3F808001u, 0x3F81)] // just above the tie
    [InlineData(0x3F807FFFu, 0x3F80)] // just below the tie
    [InlineData(0xC0490FDBu, 0xC049)] // -pi
    [InlineData(0x7F7FFFFFu, 0x7F80)] // float max rounds up to infinity
    [InlineData(0x7F800000u, 0x7F80)] // +inf
    [InlineData(0xFF800000u, 0xFF80)] // -inf
    [InlineData(0x00008000u, 0x0000)] // subnormal tie to even: rounded, not flushed
    [InlineData(0x00018000u, 0x0002)] // subnormal tie to odd: rounds up
    [InlineData(0x80010000u, 0x8001)] // negative subnormal kept
    [InlineData(0x7FC00000u, 0x7FC0)] // quiet NaN
    [InlineData(0x7F800001u, 0x7FC0)] // signalling NaN forced quiet (bit 6 of the result)
    [InlineData(0xFF812345u, 0xFFC1)] // negative NaN keeps sign and top payload bits
    public void FromSingleMatchesGgml(uint floatBits, int expectedBits)
    {
        Assert.Equal((ushort)expectedBits, BF16Format.FromSingle(BitConverter.UInt32BitsToSingle(floatBits)));
    }

    [Fact]
    public void ToSingleShiftsIntoTheHighHalf()
    {
        Assert.Equal(1.0f, BF16Format.ToSingle(0x3F80));
        Assert.Equal(-2.0f, BF16Format.ToSingle(0xC000));
        Assert.Equal(0x3F810000u, BitConverter.SingleToUInt32Bits(BF16Format.ToSingle(0x3F81)));
    }

    [Fact]
    public void RoundTripErrorIsWithinHalfAnUlp()
    {
        float[] values = KernelTestData.RandomFloats(4096, seed: 6, scale: 1e4f);
        byte[] bytes = KernelTestData.Quantize(GgmlType.BF16, values);
        Assert.Equal(8192, bytes.Length);
        float[] back = KernelTestData.Dequantize(GgmlType.BF16, bytes, values.Length);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.True(Math.Abs(back[i] - values[i]) <= Math.Abs(values[i]) * (1f / 256f),
                $"element {i}: {values[i]} -> {back[i]}");
        }
    }

    [Fact]
    public void DotOfSmallIntegersIsExactAtEveryLevel()
    {
        foreach (int length in KernelTestData.SweepLengths(1))
        {
            var random = new Random(length);
            float[] w = Enumerable.Range(0, length).Select(_ => (float)random.Next(-8, 9)).ToArray();
            float[] x = Enumerable.Range(0, length).Select(_ => (float)random.Next(-8, 9)).ToArray();
            float expected = (float)KernelTestData.ExactDot(w, x).Dot;
            byte[] wb = KernelTestData.Quantize(GgmlType.BF16, w), xb = KernelTestData.Quantize(GgmlType.BF16, x);
            foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
            {
                Assert.Equal(expected, BF16Format.Dot(wb, xb, length, level));
            }
        }
    }

    [Fact]
    public void SimdDotMatchesScalarUpToSummationOrder()
    {
        foreach (int length in KernelTestData.SweepLengths(1))
        {
            float[] w = KernelTestData.RandomFloats(length, seed: length);
            float[] x = KernelTestData.RandomFloats(length, seed: length + 104729, scale: 3f);
            byte[] wb = KernelTestData.Quantize(GgmlType.BF16, w), xb = KernelTestData.Quantize(GgmlType.BF16, x);
            var (_, absoluteSum) = KernelTestData.ExactDot(
                KernelTestData.Dequantize(GgmlType.BF16, wb, length), KernelTestData.Dequantize(GgmlType.BF16, xb, length));
            float scalar = BF16Format.Dot(wb, xb, length, SimdLevel.Scalar);
            foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
            {
                float simd = BF16Format.Dot(wb, xb, length, level);
                Assert.True(Math.Abs(simd - scalar) <= KernelTestData.SummationTolerance(length, absoluteSum),
                    $"length {length} level {level}: {simd} vs {scalar}");
            }
        }
    }
}
