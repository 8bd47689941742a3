using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public class Q8_0FormatTests
{
    // Block 0: amax 127 -> d = 1 (fp16 0x3C00), 1/d = 1, so the quants are the values rounded; the .5 cases
    // separate roundf (away from zero) from round-to-even.
    // Block 1: amax 254 -> d = 2 (0x4000), 1/d = 0.5. Block 2: all zero -> d = 0, q = 0.
    private static float[] KnownInput()
    {
        var x = new float[96];
        float[] head0 = [127f, 2.5f, -2.5f, 0.5f, -0.5f, 1.5f, -127f];
        head0.CopyTo(x, 0);
        for (int j = 7; j < 32; j++) x[j] = j - 16;
        float[] head1 = [254f, 5f, -5f, 7f, -7f, 1f, 3f, -254f];
        head1.CopyTo(x, 32);
        return x;
    }

    private static byte[] ExpectedBlocks(sbyte[] head0, sbyte[] head1)
    {
        var bytes = new byte[3 * 34];
        bytes[0] = 0x00; bytes[1] = 0x3C; // d = 1.0 as fp16, little endian
        for (int j = 0; j < 32; j++) bytes[2 + j] = (byte)(j < head0.Length ? head0[j] : (sbyte)(j - 16));
        bytes[34] = 0x00; bytes[35] = 0x40; // d = 2.0
        for (int j = 0; j < head1.Length; j++) bytes[36 + j] = (byte)head1[j];
        return bytes; // block 2 stays zero: d = 0, q = 0
    }

    [Fact]
    public void QuantizeRowIsBitExactWithGgmlReference()
    {
        byte[] expected = ExpectedBlocks([127, 3, -3, 1, -1, 2, -127], [127, 3, -3, 4, -4, 1, 2, -127]);
        Assert.Equal(expected, KernelTestData.Quantize(GgmlType.Q8_0, KnownInput()));
    }

    [Fact]
    public void ActivationQuantizerRoundsTiesToEvenLikeGgmlX86()
    {
        byte[] expected = ExpectedBlocks([127, 2, -2, 0, 0, 2, -127], [127, 2, -2, 4, -4, 0, 2, -127]);
        var actual = new byte[expected.Length];
        Q8_0Format.QuantizeActivationRow(KnownInput(), actual);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void ScaleIsRoundedToHalfButQuantsUseTheFloatScale()
    {
        // amax 100 -> d = 100/127 = 0.787401..; fp16(d) = 0x3A4D (0.78759765625).
        // q = roundf(x * 1.27) from the float d: 50 -> 63.5 rounds away to 64, -50 -> -64, 1 -> 1.27 -> 1.
        var x = new float[32];
        x[0] = 100f; x[1] = 50f; x[2] = -50f; x[3] = 1f;
        byte[] bytes = KernelTestData.Quantize(GgmlType.Q8_0, x);
        Assert.Equal(0x3A4D, bytes[0] | (bytes[1] << 8));
        Assert.Equal(new sbyte[] { 127, 64, -64, 1, 0 }, bytes[2..7].Select(b => (sbyte)b).ToArray());
        float[] back = KernelTestData.Dequantize(GgmlType.Q8_0, bytes, 32);
        Assert.Equal(127 * 0.78759765625f, back[0]);
        Assert.Equal(-64 * 0.78759765625f, back[2]);
    }

    [Fact]
    public void DequantizeMultipliesQuantsByScale()
    {
        float[] back = KernelTestData.Dequantize(GgmlType.Q8_0, KernelTestData.Quantize(GgmlType.Q8_0, KnownInput()), 96);
        Assert.Equal(new float[] { 127, 3, -3, 1, -1, 2, -127, -9 }, back[..8]);
        Assert.Equal(new float[] { 254, 6, -6, 8, -8, 2, 4, -254 }, back[32..40]);
        Assert.All(back[64..], value => Assert.Equal(0f, value));
    }

    [Fact]
    public void RoundTripErrorIsWithinHalfAStep()
    {
        float[] values = KernelTestData.RandomFloats(4096, seed: 8, scale: 2f);
        byte[] bytes = KernelTestData.Quantize(GgmlType.Q8_0, values);
        Assert.Equal(4096 / 32 * 34, bytes.Length);
        float[] back = KernelTestData.Dequantize(GgmlType.Q8_0, bytes, values.Length);
        for (int block = 0; block < 128; block++)
        {
            float amax = values.Skip(block * 32).Take(32).Max(MathF.Abs);
            float step = amax / 127f;
            for (int j = block * 32; j < block * 32 + 32; j++)
            {
                // half a step from rounding plus the fp16 error of d (2^-11 relative) times |q| <= 127.
                Assert.True(Math.Abs(back[j] - values[j]) <= step * 0.5f + amax * 0.0005f,
                    $"element {j}: {values[j]} -> {back[j]}");
            }
        }
    }

    [Fact]
    public void DotOfIntegerBlocksIsExactAtEveryLevel()
    {
        foreach (int length in KernelTestData.SweepLengths(32))
        {
            float[] w = IntegerBlocks(length, seed: length, magnitude: 127);
            float[] x = IntegerBlocks(length, seed: length + 1, magnitude: 3);
            byte[] wb = KernelTestData.Quantize(GgmlType.Q8_0, w);
            byte[] xb = KernelTestData.QuantizeActivations(GgmlType.Q8_0, x);
            float expected = (float)KernelTestData.ExactDot(w, x).Dot;
            foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
            {
                Assert.Equal(expected, Q8_0Format.Dot(wb, xb, length, level));
            }
        }
    }

    [Fact]
    public void SimdDotMatchesScalarUpToSummationOrder()
    {
        foreach (int length in KernelTestData.SweepLengths(32))
        {
            float[] w = KernelTestData.RandomFloats(length, seed: length);
            float[] x = KernelTestData.RandomFloats(length, seed: length + 31337, scale: 5f);
            byte[] wb = KernelTestData.Quantize(GgmlType.Q8_0, w);
            byte[] xb = KernelTestData.QuantizeActivations(GgmlType.Q8_0, x);
            var (exact, absoluteSum) = KernelTestData.ExactDot(
                KernelTestData.Dequantize(GgmlType.Q8_0, wb, length), KernelTestData.Dequantize(GgmlType.Q8_0, xb, length));
            float scalar = Q8_0Format.Dot(wb, xb, length, SimdLevel.Scalar);
            double tolerance = KernelTestData.SummationTolerance(length / 32 + 8, absoluteSum);
            Assert.True(Math.Abs(scalar - exact) <= tolerance, $"length {length}: scalar {scalar} vs exact {exact}");
            foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
            {
                float simd = Q8_0Format.Dot(wb, xb, length, level);
                Assert.True(Math.Abs(simd - scalar) <= 2 * tolerance, $"length {length} level {level}: {simd} vs {scalar}");
            }
        }
    }

    [Fact]
    public void RejectsPartialBlocksAndShortBuffers()
    {
        Assert.Throws<ArgumentException>(() => Quantizer.QuantizeRow(GgmlType.Q8_0, new float[33], new byte[68]));
        Assert.Throws<ArgumentException>(() => Quantizer.QuantizeRow(GgmlType.Q8_0, new float[64], new byte[67]));
        Assert.Throws<ArgumentException>(() => Q8_0Format.Dot(new byte[34], new byte[34], 64));
    }

    /// <summary>Integers in [-magnitude, magnitude] with 127 at a random place in each block, so d = 1 exactly.</summary>
    internal static float[] IntegerBlocks(int length, int seed, int magnitude)
    {
        var random = new Random(seed);
        var values = new float[length];
        for (int block = 0; block < length / 32; block++)
        {
            for (int j = 0; j < 32; j++) values[block * 32 + j] = random.Next(-magnitude, magnitude + 1);
            values[block * 32 + random.Next(32)] = random.Next(2) == 0 ? 127f : -127f;
        }
        return values;
    }
}
