using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public class Q5_0FormatTests
{
    [Fact]
    public void QuantizeRowIsBitExactWithGgmlReference()
    {
        // quantize_row_q5_0_ref output: block 1 constant 0.375 -> d = 0.375 / -16 (0xA600), every q = 0;
        // block 2 all zero -> d = -0 (0x8000) and every q = trunc(16.5) = 16, so all 32 high bits set.
        LegacyFormatChecks.QuantizesLikeGgml(GgmlType.Q5_0,
            "abae0f80ff0f0215284c103d5b89b8376e9d4d2ddeb0" +
            "00a60000000000000000000000000000000000000000" +
            "0080ffffffff00000000000000000000000000000000");
    }

    [Fact]
    public void DequantizeTakesBitJOfQhAsTheFifthBit()
    {
        var block = new byte[22];
        BitConverter.TryWriteBytes(block.AsSpan(0), (Half)2f);
        BitConverter.TryWriteBytes(block.AsSpan(2), (1u << 0) | (1u << 17) | (1u << 31));
        block[6] = 0x5F;  // element 0: 0xF | 0x10 = 31 -> 15 * 2; element 16: 5 -> -11 * 2
        block[7] = 0x83;  // element 1: 3 -> -13 * 2; element 17: 8 | 0x10 = 24 -> 8 * 2
        block[21] = 0x00; // element 15: 0 -> -32; element 31: 0x10 -> 0
        float[] y = KernelTestData.Dequantize(GgmlType.Q5_0, block, 32);
        Assert.Equal((30f, -26f, -32f), (y[0], y[1], y[15]));
        Assert.Equal((-22f, 16f, 0f), (y[16], y[17], y[31]));
    }

    [Fact]
    public void DotOfIntegerBlocksIsExactAtEveryLevel()
    {
        foreach (int length in KernelTestData.SweepLengths(32))
        {
            // Weights in [-16, 15] with a -16 in every block: d = 1 and q = w + 16 exactly.
            var random = new Random(length);
            float[] w = Enumerable.Range(0, length).Select(_ => (float)random.Next(-16, 16)).ToArray();
            for (int block = 0; block < length / 32; block++) w[block * 32 + random.Next(32)] = -16f;
            float[] x = Q8_0FormatTests.IntegerBlocks(length, seed: length + 1, magnitude: 20);
            byte[] wb = KernelTestData.Quantize(GgmlType.Q5_0, w);
            Assert.Equal(w, KernelTestData.Dequantize(GgmlType.Q5_0, wb, length));
            byte[] xb = KernelTestData.QuantizeActivations(GgmlType.Q5_0, x);
            float expected = (float)KernelTestData.ExactDot(w, x).Dot;
            foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
            {
                Assert.Equal(expected, Q5_0Format.Dot(wb, xb, length, level));
            }
        }
    }

    [Fact]
    public void RoundTripErrorIsWithinOneStep() =>
        LegacyFormatChecks.RoundTripIsWithinBounds(GgmlType.Q5_0, levels: 32, hasOffset: false, relativeNoise: 0.01);

    [Fact]
    public void SimdDotMatchesScalarUpToSummationOrder() =>
        LegacyFormatChecks.SimdDotMatchesScalar(GgmlType.Q5_0, Q5_0Format.Dot);

    [Fact]
    public void RejectsPartialBlocksAndShortBuffers() =>
        LegacyFormatChecks.RejectsBadLengths(GgmlType.Q5_0, Q5_0Format.Dot);
}
