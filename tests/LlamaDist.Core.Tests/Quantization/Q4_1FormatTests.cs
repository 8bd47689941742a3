using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public class Q4_1FormatTests
{
    [Fact]
    public void QuantizeRowIsBitExactWithGgmlReference()
    {
        // quantize_row_q4_1_ref output (ggml, LLamaSharp 0.30.0 build): block 0 a ramp, block 1 constant 0.375
        // (d = 0, m = 0.375 = 0x3600, nibbles 0), block 2 all zero.
        LegacyFormatChecks.QuantizesLikeGgml(GgmlType.Q4_1,
            "2932e3bc656452406f58492a0b5b3718d8e88896" +
            "0000003600000000000000000000000000000000" +
            "0000000000000000000000000000000000000000");
    }

    [Fact]
    public void DequantizeIsNibbleTimesDPlusMinLowNibblesFirst()
    {
        var block = new byte[20];
        BitConverter.TryWriteBytes(block.AsSpan(0), (Half)0.5f);  // d
        BitConverter.TryWriteBytes(block.AsSpan(2), (Half)(-2f)); // m
        block[4] = 0xF0; // element 0 -> 0, element 16 -> 15
        block[5] = 0x37; // element 1 -> 7, element 17 -> 3
        float[] y = KernelTestData.Dequantize(GgmlType.Q4_1, block, 32);
        Assert.Equal((-2f, 1.5f, -2f), (y[0], y[1], y[2]));
        Assert.Equal((5.5f, -0.5f, -2f), (y[16], y[17], y[18]));
    }

    [Fact]
    public void QuantizeMapsMinToZeroAndMaxToFifteen()
    {
        float[] x = Enumerable.Range(0, 32).Select(i => -1f + i * (3f / 31f)).ToArray(); // min -1, max 2: d = 0.2
        byte[] bytes = KernelTestData.Quantize(GgmlType.Q4_1, x);
        Assert.Equal((Half)0.2f, BitConverter.ToHalf(bytes, 0));
        Assert.Equal((Half)(-1f), BitConverter.ToHalf(bytes, 2));
        Assert.Equal(0, bytes[4] & 0x0F);
        Assert.Equal(15, bytes[4 + 15] >> 4);
    }

    [Fact]
    public void RoundTripErrorIsWithinHalfAStep() =>
        LegacyFormatChecks.RoundTripIsWithinBounds(GgmlType.Q4_1, levels: 15, hasOffset: true, relativeNoise: 0.03);

    [Fact]
    public void SimdDotMatchesScalarUpToSummationOrder() =>
        LegacyFormatChecks.SimdDotMatchesScalar(GgmlType.Q4_1, Q4_1Format.Dot);

    [Fact]
    public void RejectsPartialBlocksAndShortBuffers() =>
        LegacyFormatChecks.RejectsBadLengths(GgmlType.Q4_1, Q4_1Format.Dot);
}
