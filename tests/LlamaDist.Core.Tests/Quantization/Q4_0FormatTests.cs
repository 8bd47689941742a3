using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public class Q4_0FormatTests
{
    private static float[] KnownInput()
    {
        var x = new float[128];
        // Block A: max by magnitude is -8 -> d = -8 / -8 = 1 (0x3C00), q = min(15, trunc(x + 8.5)).
        float[] a = [-8f, 7f, 7.9f, 0f, -0.5f, -0.6f, 0.49f, 0.5f, -3f];
        a.CopyTo(x, 0);
        x[16] = 1f; x[17] = -1f; x[18] = 2.25f;
        // Block B: positive max 16 -> d = -2 (0xC000), id = -0.5; -16 ties on magnitude and loses (first wins).
        float[] b = [16f, -14f, -16f, 3f, 1f];
        b.CopyTo(x, 32);
        x[48] = -1f; x[49] = 5f;
        // Block C: 8 then -8: the first one is the max -> d = -1 (0xBC00).
        x[64] = 8f; x[65] = -8f;
        // Block D: all zero -> d = 0 / -8 = -0.0 (0x8000) and every nibble is trunc(0 + 8.5) = 8.
        return x;
    }

    [Fact]
    public void QuantizeRowIsBitExactWithGgmlReference()
    {
        byte[] expected =
        [
            0x00, 0x3C, 0x90, 0x7F, 0xAF, 0x88, 0x88, 0x87, 0x88, 0x89, 0x85, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88,
            0x00, 0xC0, 0x90, 0x6F, 0x8F, 0x87, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88,
            0x00, 0xBC, 0x80, 0x8F, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88,
            0x00, 0x80, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88,
        ];
        Assert.Equal(expected, KernelTestData.Quantize(GgmlType.Q4_0, KnownInput()));
    }

    [Fact]
    public void DequantizePlacesLowNibblesFirstThenHighNibbles()
    {
        float[] back = KernelTestData.Dequantize(GgmlType.Q4_0, KernelTestData.Quantize(GgmlType.Q4_0, KnownInput()), 128);
        Assert.Equal(new float[] { -8, 7, 7, 0, 0, -1, 0, 1, -3, 0 }, back[..10]);
        Assert.Equal(new float[] { 1, -1, 2, 0 }, back[16..20]);
        Assert.Equal(new float[] { 16, -14, -14, 2, 0, 0 }, back[32..38]);
        Assert.Equal(new float[] { -2, 4, 0 }, back[48..51]);
        Assert.Equal(new float[] { 8, -7, 0 }, back[64..67]);
        Assert.All(back[96..], value => Assert.Equal(0f, value));
    }

    [Fact]
    public void RoundTripErrorIsWithinOneStep()
    {
        float[] values = KernelTestData.RandomFloats(4096, seed: 9, scale: 2f);
        byte[] bytes = KernelTestData.Quantize(GgmlType.Q4_0, values);
        Assert.Equal(4096 / 32 * 18, bytes.Length);
        float[] back = KernelTestData.Dequantize(GgmlType.Q4_0, bytes, values.Length);
        double squaredError = 0, squaredValue = 0;
        for (int block = 0; block < 128; block++)
        {
            float step = values.Skip(block * 32).Take(32).Max(MathF.Abs) / 8f;
            for (int j = block * 32; j < block * 32 + 32; j++)
            {
                // Rounding is half a step, except the far end that clamps from 16 to 15 (one step), plus fp16(d).
                Assert.True(Math.Abs(back[j] - values[j]) <= step * 1.01f, $"element {j}: {values[j]} -> {back[j]}");
                squaredError += Math.Pow(back[j] - values[j], 2);
                squaredValue += Math.Pow(values[j], 2);
            }
        }
        // 4-bit: noise power about step^2 / 12 per element; these inputs (with 8x outliers) land near 0.024.
        Assert.True(squaredError / squaredValue < 0.035, $"relative squared error {squaredError / squaredValue}");
    }

    [Fact]
    public void DotOfIntegerBlocksIsExactAtEveryLevel()
    {
        foreach (int length in KernelTestData.SweepLengths(32))
        {
            // Weights in [-8, 7] with a -8 in every block: d = 1 and q = w + 8 exactly.
            var random = new Random(length);
            float[] w = Enumerable.Range(0, length).Select(_ => (float)random.Next(-8, 8)).ToArray();
            for (int block = 0; block < length / 32; block++) w[block * 32 + random.Next(32)] = -8f;
            float[] x = Q8_0FormatTests.IntegerBlocks(length, seed: length + 1, magnitude: 20);
            byte[] wb = KernelTestData.Quantize(GgmlType.Q4_0, w);
            byte[] xb = KernelTestData.QuantizeActivations(GgmlType.Q4_0, x);
            float expected = (float)KernelTestData.ExactDot(w, x).Dot;
            foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
            {
                Assert.Equal(expected, Q4_0Format.Dot(wb, xb, length, level));
            }
        }
    }

    [Fact]
    public void SimdDotMatchesScalarUpToSummationOrder()
    {
        foreach (int length in KernelTestData.SweepLengths(32))
        {
            float[] w = KernelTestData.RandomFloats(length, seed: length);
            float[] x = KernelTestData.RandomFloats(length, seed: length + 4242, scale: 5f);
            byte[] wb = KernelTestData.Quantize(GgmlType.Q4_0, w);
            byte[] xb = KernelTestData.QuantizeActivations(GgmlType.Q4_0, x);
            var (exact, absoluteSum) = KernelTestData.ExactDot(
                KernelTestData.Dequantize(GgmlType.Q4_0, wb, length), KernelTestData.Dequantize(GgmlType.Q8_0, xb, length));
            float scalar = Q4_0Format.Dot(wb, xb, length, SimdLevel.Scalar);
            double tolerance = KernelTestData.SummationTolerance(length / 32 + 8, absoluteSum);
            Assert.True(Math.Abs(scalar - exact) <= tolerance, $"length {length}: scalar {scalar} vs exact {exact}");
            foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
            {
                float simd = Q4_0Format.Dot(wb, xb, length, level);
                Assert.True(Math.Abs(simd - scalar) <= 2 * tolerance, $"length {length} level {level}: {simd} vs {scalar}");
            }
        }
    }
}
