using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public class Q5_1FormatTests
{
    [Fact]
    public void QuantizeRowIsBitExactWithGgmlReference()
    {
        // quantize_row_q5_1_ref output: block 1 constant 0.375 -> d = 0, m = 0x3600, q = 0; block 2 all zero.
        LegacyFormatChecks.QuantizesLikeGgml(GgmlType.Q5_1,
            "f62de3bcf07b00f0dbc8a480cfa0734517a77f30b1d0002d" +
            "000000360000000000000000000000000000000000000000" +
            "000000000000000000000000000000000000000000000000");
    }

    [Fact]
    public void DequantizeIsFiveBitQuantTimesDPlusMin()
    {
        var block = new byte[24];
        BitConverter.TryWriteBytes(block.AsSpan(0), (Half)0.25f); // d
        BitConverter.TryWriteBytes(block.AsSpan(2), (Half)(-4f)); // m
        BitConverter.TryWriteBytes(block.AsSpan(4), (1u << 0) | (1u << 16));
        block[8] = 0x2F; // element 0: 31 -> 3.75; element 16: 2 | 0x10 = 18 -> 0.5
        block[9] = 0x01; // element 1: 1 -> -3.75; element 17: 0 -> -4
        float[] y = KernelTestData.Dequantize(GgmlType.Q5_1, block, 32);
        Assert.Equal((3.75f, -3.75f, -4f), (y[0], y[1], y[2]));
        Assert.Equal((0.5f, -4f), (y[16], y[17]));
    }

    [Fact]
    public void QuantizeMapsMinToZeroAndMaxToThirtyOne()
    {
        float[] x = Enumerable.Range(0, 32).Select(i => i * 0.5f - 3f).ToArray(); // min -3, max 12.5: d = 0.5
        byte[] bytes = KernelTestData.Quantize(GgmlType.Q5_1, x);
        Assert.Equal((Half)0.5f, BitConverter.ToHalf(bytes, 0));
        Assert.Equal((Half)(-3f), BitConverter.ToHalf(bytes, 2));
        Assert.Equal(0xFFFF0000u, BitConverter.ToUInt32(bytes, 4)); // q = i: bit 4 set from element 16 on
        Assert.Equal(x, KernelTestData.Dequantize(GgmlType.Q5_1, bytes, 32));
    }

    [Fact]
    public void RoundTripErrorIsWithinHalfAStep() =>
        LegacyFormatChecks.RoundTripIsWithinBounds(GgmlType.Q5_1, levels: 31, hasOffset: true, relativeNoise: 0.008);

    [Fact]
    public void SimdDotMatchesScalarUpToSummationOrder() =>
        LegacyFormatChecks.SimdDotMatchesScalar(GgmlType.Q5_1, Q5_1Format.Dot);

    [Fact]
    public void RejectsPartialBlocksAndShortBuffers() =>
        LegacyFormatChecks.RejectsBadLengths(GgmlType.Q5_1, Q5_1Format.Dot);
}
