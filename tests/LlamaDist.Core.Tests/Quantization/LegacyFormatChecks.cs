using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>The checks every Q4_1 / Q5_0 / Q5_1 format test runs, parameterised by type and row dot.</summary>
internal static class LegacyFormatChecks
{
    public delegate float RowDot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns, SimdLevel level);

    /// <summary>The first 96 elements of <see cref="LegacyQuantParityTests.Weights"/> quantize to ggml's bytes.</summary>
    public static void QuantizesLikeGgml(GgmlType type, string ggmlHex)
    {
        byte[] bytes = KernelTestData.Quantize(type, LegacyQuantParityTests.Weights(96));
        Assert.Equal(ggmlHex, Convert.ToHexStringLower(bytes));
    }

    /// <summary>
    /// Every element within <paramref name="stepsAllowed"/> steps of its value (step = block range / levels for
    /// the offset formats, amax / half-levels for Q5_0, plus fp16 rounding of d and m), and the relative squared
    /// error below <paramref name="relativeNoise"/>.
    /// </summary>
    public static void RoundTripIsWithinBounds(GgmlType type, float levels, bool hasOffset, double relativeNoise)
    {
        float[] values = KernelTestData.RandomFloats(4096, seed: 19, scale: 2f);
        byte[] bytes = KernelTestData.Quantize(type, values);
        Assert.Equal(GgmlTypeInfo.RowBytes(type, 4096), bytes.Length);
        float[] back = KernelTestData.Dequantize(type, bytes, values.Length);
        double squaredError = 0, squaredValue = 0;
        for (int block = 0; block < 128; block++)
        {
            var x = values.AsSpan(block * 32, 32).ToArray();
            float step = hasOffset ? (x.Max() - x.Min()) / levels : x.Max(MathF.Abs) / (levels / 2);
            // Half a step from rounding; the far end of Q5_0 clamps (one step); fp16 d and m add a little more.
            float allowed = (hasOffset ? 0.5f : 1f) * step * 1.02f + (hasOffset ? MathF.Abs(x.Min()) / 1024f : 0f);
            for (int j = block * 32; j < block * 32 + 32; j++)
            {
                Assert.True(Math.Abs(back[j] - values[j]) <= allowed, $"{type} element {j}: {values[j]} -> {back[j]}");
                squaredError += Math.Pow(back[j] - values[j], 2);
                squaredValue += Math.Pow(values[j], 2);
            }
        }
        Assert.True(squaredError / squaredValue < relativeNoise, $"{type} relative squared error {squaredError / squaredValue}");
    }

    /// <summary>Every supported level against the scalar reference, and the scalar against the exact dot.</summary>
    public static void SimdDotMatchesScalar(GgmlType type, RowDot dot)
    {
        foreach (int length in KernelTestData.SweepLengths(32))
        {
            float[] w = KernelTestData.RandomFloats(length, seed: length + 7);
            float[] x = KernelTestData.RandomFloats(length, seed: length + 4243, scale: 5f);
            byte[] wb = KernelTestData.Quantize(type, w);
            byte[] xb = KernelTestData.QuantizeActivations(type, x);
            float[] weights = KernelTestData.Dequantize(type, wb, length);
            float[] activations = KernelTestData.Dequantize(Quantizer.ActivationType(type), xb, length);
            var (exact, absoluteSum) = KernelTestData.ExactDot(weights, activations);
            double tolerance = KernelTestData.SummationTolerance(length / 32 + 8, absoluteSum);
            double offsetRounding = LegacyQuantTestData.ScaledSumRounding(type, weights, activations);
            float scalar = dot(wb, xb, length, SimdLevel.Scalar);
            Assert.True(Math.Abs(scalar - exact) <= tolerance + offsetRounding,
                $"{type} length {length}: scalar {scalar} vs exact {exact}");
            foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
            {
                float simd = dot(wb, xb, length, level);
                Assert.True(Math.Abs(simd - scalar) <= 2 * tolerance,
                    $"{type} length {length} level {level}: {simd} vs {scalar}");
            }
        }
    }

    /// <summary>Short buffers and partial blocks are rejected with ArgumentException naming the format.</summary>
    public static void RejectsBadLengths(GgmlType type, RowDot dot)
    {
        string name = GgmlTypeInfo.Name(type);
        int blockBytes = GgmlTypeInfo.BlockBytes(type);
        Assert.Contains(name, Assert.Throws<ArgumentException>(
            () => Quantizer.QuantizeRow(type, new float[33], new byte[2 * blockBytes])).Message);
        Assert.Contains(name, Assert.Throws<ArgumentException>(
            () => Quantizer.QuantizeRow(type, new float[64], new byte[2 * blockBytes - 1])).Message);
        Assert.Contains(name, Assert.Throws<ArgumentException>(
            () => Quantizer.DequantizeRow(type, new byte[blockBytes], new float[64])).Message);
        Assert.Throws<ArgumentException>(() => dot(new byte[blockBytes], new byte[33], 32, SimdLevel.Scalar)); // partner block is 34 or 36
        Assert.Throws<ArgumentException>(() => dot(new byte[blockBytes - 1], new byte[36], 32, SimdLevel.Scalar));
    }
}
