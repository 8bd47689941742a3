using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>Checks shared by the K-quant format tests.</summary>
internal static class KQuantTestData
{
    /// <summary>Row lengths for the SIMD sweeps: 1 to 16 super-blocks of 256.</summary>
    public static IEnumerable<int> SweepLengths() => Enumerable.Range(1, 16).Select(blocks => blocks * 256);

    /// <summary>
    /// For each sweep length: the scalar dot equals dot(dequantized weights, dequantized Q8_K activations) up to
    /// float summation order, and every supported SIMD level equals the scalar dot up to summation order.
    /// </summary>
    public static void AssertDotsAgree(GgmlType type, Func<byte[], byte[], int, SimdLevel, float> dot)
    {
        foreach (int length in SweepLengths())
        {
            float[] weightValues = KernelTestData.RandomFloats(length, seed: length, scale: 0.5f);
            float[] activationValues = KernelTestData.RandomFloats(length, seed: length + 1, scale: 2f);
            byte[] weights = KernelTestData.Quantize(type, weightValues);
            byte[] activations = KernelTestData.QuantizeActivations(type, activationValues);
            Assert.Equal(GgmlTypeInfo.RowBytes(GgmlType.Q8_K, length), activations.Length);
            float[] w = KernelTestData.Dequantize(type, weights, length);
            float[] a = KernelTestData.Dequantize(GgmlType.Q8_K, activations, length);
            var (exact, absoluteSum) = KernelTestData.ExactDot(w, a);
            double tolerance = KernelTestData.SummationTolerance(length, absoluteSum);
            float scalar = dot(weights, activations, length, SimdLevel.Scalar);
            Assert.True(Math.Abs(scalar - exact) <= tolerance, $"{type} {length}: scalar {scalar} vs {exact}");
            foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
            {
                float vector = dot(weights, activations, length, level);
                Assert.True(Math.Abs(vector - scalar) <= 2 * tolerance,
                    $"{type} {length} {level}: {vector} vs scalar {scalar}");
            }
        }
    }

    /// <summary>Relative squared error of a quantize/dequantize round trip, and the largest error per element
    /// relative to the range of its 32-element group.</summary>
    public static (double RelativeSquaredError, double WorstRangeFraction) RoundTrip(GgmlType type, float[] values)
    {
        byte[] bytes = KernelTestData.Quantize(type, values);
        Assert.Equal(GgmlTypeInfo.RowBytes(type, values.Length), bytes.Length);
        float[] back = KernelTestData.Dequantize(type, bytes, values.Length);
        double squaredError = 0, squaredValue = 0, worst = 0;
        for (int group = 0; group < values.Length / 32; group++)
        {
            var slice = values.Skip(group * 32).Take(32).ToArray();
            double range = Math.Max(slice.Max(), 0) - Math.Min(slice.Min(), 0);
            for (int j = group * 32; j < group * 32 + 32; j++)
            {
                double error = Math.Abs(back[j] - values[j]);
                squaredError += error * error;
                squaredValue += (double)values[j] * values[j];
                worst = Math.Max(worst, error / range);
            }
        }
        return (squaredError / squaredValue, worst);
    }
}
