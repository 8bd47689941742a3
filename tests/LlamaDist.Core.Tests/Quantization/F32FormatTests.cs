using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public class F32FormatTests
{
    [Fact]
    public void QuantizeWritesLittleEndianFloatBytesAndDequantizeReadsThemBack()
    {
        float[] values = [1f, -2.5f, float.Epsilon, float.NaN];
        byte[] bytes = KernelTestData.Quantize(GgmlType.F32, values);
        Assert.Equal(new byte[] { 0, 0, 0x80, 0x3F, 0, 0, 0x20, 0xC0, 1, 0, 0, 0 }, bytes[..12]);
        float[] back = KernelTestData.Dequantize(GgmlType.F32, bytes, 4);
        Assert.Equal(values.Select(BitConverter.SingleToUInt32Bits), back.Select(BitConverter.SingleToUInt32Bits));
    }

    [Fact]
    public void DotOfSmallIntegersIsExactAtEveryLevel()
    {
        foreach (int length in KernelTestData.SweepLengths(1))
        {
            var random = new Random(length);
            float[] w = Enumerable.Range(0, length).Select(_ => (float)random.Next(-50, 51)).ToArray();
            float[] x = Enumerable.Range(0, length).Select(_ => (float)random.Next(-50, 51)).ToArray();
            float expected = (float)KernelTestData.ExactDot(w, x).Dot;
            byte[] wb = KernelTestData.Quantize(GgmlType.F32, w), xb = KernelTestData.Quantize(GgmlType.F32, x);
            foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
            {
                Assert.Equal(expected, F32Format.Dot(wb, xb, length, level));
            }
        }
    }

    [Fact]
    public void SimdDotMatchesScalarUpToSummationOrder()
    {
        foreach (int length in KernelTestData.SweepLengths(1))
        {
            float[] w = KernelTestData.RandomFloats(length, seed: length);
            float[] x = KernelTestData.RandomFloats(length, seed: length + 17, scale: 3f);
            byte[] wb = KernelTestData.Quantize(GgmlType.F32, w), xb = KernelTestData.Quantize(GgmlType.F32, x);
            var (exact, absoluteSum) = KernelTestData.ExactDot(w, x);
            double tolerance = KernelTestData.SummationTolerance(length, absoluteSum);
            float scalar = F32Format.Dot(wb, xb, length, SimdLevel.Scalar);
            Assert.True(Math.Abs(scalar - exact) <= tolerance);
            foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
            {
                float simd = F32Format.Dot(wb, xb, length, level);
                Assert.True(Math.Abs(simd - scalar) <= 2 * tolerance, $"length {length} level {level}: {simd} vs {scalar}");
            }
        }
    }
}
