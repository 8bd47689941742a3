using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>Bounds shared by the Q4_1 / Q5_0 / Q5_1 tests.</summary>
internal static class LegacyQuantTestData
{
    /// <summary>
    /// Extra error of a Q4_1 / Q5_1 dot over the exact dot of the dequantized rows: the kernel adds m * s per block
    /// with s = d * Σ q stored as fp16, so each block is off by up to |m| * |s| * 2^-11 (m is the smallest
    /// dequantized weight of the block, the one with q = 0). Zero for weight types whose partner is not Q8_1.
    /// </summary>
    public static double ScaledSumRounding(GgmlType weightType, ReadOnlySpan<float> weights, ReadOnlySpan<float> activations)
    {
        if (Quantizer.ActivationType(weightType) != GgmlType.Q8_1)
        {
            return 0;
        }
        double bound = 0;
        for (int start = 0; start < weights.Length; start += 32)
        {
            float min = float.MaxValue;
            double sum = 0;
            for (int j = start; j < start + 32; j++)
            {
                min = Math.Min(min, weights[j]);
                sum += activations[j];
            }
            bound += Math.Abs(min) * Math.Abs(sum) * (1.0 / 2048) * 1.01;
        }
        return bound;
    }
}
