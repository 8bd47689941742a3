using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public class Q3_KFormatTests
{
    [Fact]
    public void ConstantsAgreeWithGgufGeometry()
    {
        Assert.Equal((256, 110), (Q3_KFormat.BlockSize, Q3_KFormat.BlockBytes));
        Assert.Equal((GgmlTypeInfo.BlockSize(GgmlType.Q3_K), GgmlTypeInfo.BlockBytes(GgmlType.Q3_K)),
            (Q3_KFormat.BlockSize, Q3_KFormat.BlockBytes));
        Assert.Equal((32, 96, 108), (Q3_KFormat.QuantsOffset, Q3_KFormat.ScalesOffset, Q3_KFormat.ScaleOffset));
        Assert.Equal(GgmlType.Q8_K, Quantizer.ActivationType(GgmlType.Q3_K));
    }

    /// <summary>
    /// d = 0.5; stored scales (offset 32) 34 for sub-block 0 (scale 2), 29 for sub-block 9 (-3), 63 for
    /// sub-block 15 (31), 32 (scale 0) for all others. Quants default to 0 with a clear high bit: q - 4 = -4.
    /// </summary>
    private static byte[] KnownBlock()
    {
        var block = new byte[110];
        block[108] = 0x00; block[109] = 0x38; // d = 0.5
        block[96 + 0] = 0x02;  // low nibbles: sub-block 0 = 2, sub-block 8 = 0
        block[96 + 1] = 0xD0;  // sub-block 1 = 0, sub-block 9 = 0xD
        block[96 + 7] = 0xF0;  // sub-block 7 = 0, sub-block 15 = 0xF
        block[96 + 8] = 0xAA;  // top bits of sub-blocks 0, 4, 8, 12: 2 each
        block[96 + 9] = 0x9A;  // sub-blocks 1, 5, 9, 13: 2, 2, 1, 2
        block[96 + 10] = 0xAA; // sub-blocks 2, 6, 10, 14: 2 each
        block[96 + 11] = 0xEA; // sub-blocks 3, 7, 11, 15: 2, 2, 2, 3
        block[0] = 0x01;       // hmask[0] bit 0: element 0's high bit
        block[32 + 0] = 0x03;  // qs[0]: element 0 low bits 3 -> q = 7, q - 4 = 3
        block[16] = 0x10;      // hmask[16] bit 4: element 144's high bit
        block[32 + 48] = 0x01; // qs[48] (second half, l = 16): element 144 low bits 1 -> q - 4 = 1
        block[32 + 63] = 0x80; // qs[63] bits 6-7: element 255 low bits 2, high bit clear -> q - 4 = -2
        return block;
    }

    [Fact]
    public void DequantizeMatchesHandComputedValues()
    {
        float[] y = KernelTestData.Dequantize(GgmlType.Q3_K, KnownBlock(), 256);
        Assert.Equal(0.5f * 2 * 3, y[0]);
        Assert.All(y[1..16], v => Assert.Equal(0.5f * 2 * -4, v));
        Assert.All(y[16..144], v => Assert.Equal(0f, v));
        Assert.Equal(0.5f * -3 * 1, y[144]);
        Assert.All(y[145..160], v => Assert.Equal(0.5f * -3 * -4, v));
        Assert.All(y[160..240], v => Assert.Equal(0f, v));
        Assert.All(y[240..255], v => Assert.Equal(0.5f * 31 * -4, v));
        Assert.Equal(0.5f * 31 * -2, y[255]);
    }

    [Fact]
    public void PackedScalesRoundTripThroughScale()
    {
        byte[] levels = [0, 1, 17, 63, 40, 33, 62, 5, 32, 29, 48, 15, 16, 31, 2, 63];
        var packed = new byte[12];
        unsafe
        {
            fixed (byte* p = packed)
            {
                Q3_KFormat.PackScales(levels, p);
                for (int j = 0; j < 16; j++)
                {
                    Assert.Equal(levels[j], Q3_KFormat.Scale(j, p));
                }
            }
        }
        // The known block's hand-packed bytes decode to its stated scales.
        byte[] block = KnownBlock();
        unsafe
        {
            fixed (byte* p = block)
            {
                for (int j = 0; j < 16; j++)
                {
                    int expected = j switch { 0 => 34, 9 => 29, 15 => 63, _ => 32 };
                    Assert.Equal(expected, Q3_KFormat.Scale(j, p + Q3_KFormat.ScalesOffset));
                }
            }
        }
    }

    [Fact]
    public void RoundTripErrorIsSmall()
    {
        float[] values = KernelTestData.RandomFloats(8192, seed: 15, scale: 2f);
        var (relative, worst) = KQuantTestData.RoundTrip(GgmlType.Q3_K, values);
        // 8 levels per 16-element sub-block, 6-bit signed scales; the side opposite the largest magnitude has
        // only 3 levels and can clip (measured worst 0.14 of the group range; relative squared error 0.036).
        Assert.True(worst <= 0.17, $"worst error {worst} of the group range");
        Assert.True(relative < 0.045, $"relative squared error {relative}");
    }

    [Fact]
    public void ZeroBlockQuantizesToZero()
    {
        byte[] bytes = KernelTestData.Quantize(GgmlType.Q3_K, new float[256]);
        Assert.All(KernelTestData.Dequantize(GgmlType.Q3_K, bytes, 256), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ScalarAndSimdDotsAgreeWithTheDequantizedDot() =>
        KQuantTestData.AssertDotsAgree(GgmlType.Q3_K, (w, a, n, level) => Q3_KFormat.Dot(w, a, n, level));

    [Fact]
    public void DotOfTheKnownBlockIsExact()
    {
        // Integer activations with d = 1 (see Q6_KFormatTests): every level's dot equals the exact dot.
        var activationValues = new float[256];
        for (int j = 0; j < 256; j++) activationValues[j] = (j * 37 % 255) - 127;
        byte[] activations = KernelTestData.QuantizeActivations(GgmlType.Q3_K, activationValues);
        Assert.Equal(1f, BitConverter.ToSingle(activations, 0));
        float[] w = KernelTestData.Dequantize(GgmlType.Q3_K, KnownBlock(), 256);
        double exact = w.Zip(activationValues).Sum(p => (double)p.First * p.Second);
        foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
        {
            Assert.Equal(exact, Q3_KFormat.Dot(KnownBlock(), activations, 256, level));
        }
    }

    [Fact]
    public void RowsThatAreNotWholeSuperBlocksAreRejected()
    {
        var error = Assert.Throws<ArgumentException>(() => Q3_KFormat.DequantizeRow(new byte[220], new float[320]));
        Assert.Contains("Q3_K", error.Message);
    }
}
