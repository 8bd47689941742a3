using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public class Q4_KFormatTests
{
    [Fact]
    public void ConstantsAgreeWithGgufGeometry()
    {
        Assert.Equal((256, 144), (Q4_KFormat.BlockSize, Q4_KFormat.BlockBytes));
        Assert.Equal((GgmlTypeInfo.BlockSize(GgmlType.Q4_K), GgmlTypeInfo.BlockBytes(GgmlType.Q4_K)),
            (Q4_KFormat.BlockSize, Q4_KFormat.BlockBytes));
        Assert.Equal((4, 16), (Q4_KFormat.ScalesOffset, Q4_KFormat.QuantsOffset));
        Assert.Equal(GgmlType.Q8_K, Quantizer.ActivationType(GgmlType.Q4_K));
    }

    /// <summary>
    /// d = 0.5, dmin = 0.25; sub-block 0: scale 2, min 4; sub-block 1: scale 3, min 1; sub-block 4: scale 40,
    /// min 50 (6-bit values whose top two bits live in the spare bits of bytes 0 and 4); all others 0.
    /// </summary>
    private static byte[] KnownBlock()
    {
        var block = new byte[144];
        block[0] = 0x00; block[1] = 0x38; // d = 0.5
        block[2] = 0x00; block[3] = 0x34; // dmin = 0.25
        block[4 + 0] = 0x82;  // scale 0 = 2, plus bits 4-5 of scale 4 (40 >> 4 = 2) in the top bits
        block[4 + 1] = 0x03;  // scale 1 = 3
        block[4 + 4] = 0xC4;  // min 0 = 4, plus bits 4-5 of min 4 (50 >> 4 = 3) in the top bits
        block[4 + 5] = 0x01;  // min 1 = 1
        block[4 + 8] = 0x28;  // low nibbles of scale 4 (40 & 15 = 8) and min 4 (50 & 15 = 2)
        block[16 + 0] = 0x3A; // element 0 <- 10 (low nibble), element 32 <- 3 (high nibble)
        block[16 + 64] = 0x0F; // element 128 (sub-block 4) <- 15, element 160 (sub-block 5) <- 0
        return block;
    }

    [Fact]
    public void DequantizeMatchesHandComputedValues()
    {
        float[] y = KernelTestData.Dequantize(GgmlType.Q4_K, KnownBlock(), 256);
        Assert.Equal(0.5f * 2 * 10 - 0.25f * 4, y[0]);   // 9
        Assert.Equal(-1f, y[1]);                          // nibble 0: -dmin * 4
        Assert.Equal(0.5f * 3 * 3 - 0.25f * 1, y[32]);   // 4.25
        Assert.Equal(-0.25f, y[33]);
        Assert.All(y[64..128], v => Assert.Equal(0f, v)); // sub-blocks 2, 3: scale and min 0
        Assert.Equal(0.5f * 40 * 15 - 0.25f * 50, y[128]); // 287.5
        Assert.Equal(-12.5f, y[129]);
        Assert.All(y[160..], v => Assert.Equal(0f, v));
    }

    [Fact]
    public void RequantizingTheKnownBlockStaysWithinOneStep()
    {
        // The fit picks its own scales (so bytes differ), but re-quantizing a dequantized row must land within
        // one step (range / 15) of every value: half a step of rounding plus the 6-bit scale/min rounding.
        float[] y = KernelTestData.Dequantize(GgmlType.Q4_K, KnownBlock(), 256);
        float[] again = KernelTestData.Dequantize(GgmlType.Q4_K, KernelTestData.Quantize(GgmlType.Q4_K, y), 256);
        for (int s = 0; s < 8; s++)
        {
            var slice = y.Skip(s * 32).Take(32).ToArray();
            double step = (Math.Max(slice.Max(), 0) - Math.Min(slice.Min(), 0)) / 15.0;
            for (int j = s * 32; j < s * 32 + 32; j++)
            {
                Assert.True(Math.Abs(again[j] - y[j]) <= step + 1e-6, $"element {j}: {y[j]} -> {again[j]}");
            }
        }
    }

    [Fact]
    public void PackedScalesRoundTripThroughScaleAndMin()
    {
        byte[] scaleLevels = [0, 1, 17, 63, 40, 33, 62, 5];
        byte[] minLevels = [63, 2, 0, 31, 50, 48, 1, 60];
        var packed = new byte[12];
        unsafe
        {
            fixed (byte* p = packed)
            {
                Q4_KFormat.PackScales(scaleLevels, minLevels, p);
                for (int j = 0; j < 8; j++)
                {
                    Q4_KFormat.ScaleAndMin(j, p, out int scale, out int min);
                    Assert.Equal((scaleLevels[j], minLevels[j]), ((byte)scale, (byte)min));
                }
            }
        }
    }

    [Fact]
    public void RoundTripErrorIsSmall()
    {
        float[] values = KernelTestData.RandomFloats(8192, seed: 12, scale: 2f);
        var (relative, worst) = KQuantTestData.RoundTrip(GgmlType.Q4_K, values);
        // 15 levels per 32-element range: rounding is 1/30 of the range; 6-bit scale/min rounding can stretch a
        // step, so allow 1/15 (measured worst 0.055). Measured relative squared error on these inputs: 0.0090.
        Assert.True(worst <= 1.0 / 15, $"worst error {worst} of the group range");
        Assert.True(relative < 0.013, $"relative squared error {relative}");
    }

    [Fact]
    public void ConstantAndZeroBlocksAreRepresented()
    {
        var values = new float[512];
        Array.Fill(values, -1.5f, 0, 256); // constant negative: min 1.5, scale 0
        float[] back = KernelTestData.Dequantize(GgmlType.Q4_K, KernelTestData.Quantize(GgmlType.Q4_K, values), 512);
        Assert.All(back[..256], v => Assert.Equal(-1.5f, v, 0.01f));
        Assert.All(back[256..], v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ScalarAndSimdDotsAgreeWithTheDequantizedDot() =>
        KQuantTestData.AssertDotsAgree(GgmlType.Q4_K, (w, a, n, level) => Q4_KFormat.Dot(w, a, n, level));

    [Fact]
    public void RowsThatAreNotWholeSuperBlocksAreRejected()
    {
        var error = Assert.Throws<ArgumentException>(() => Q4_KFormat.DequantizeRow(new byte[288], new float[320]));
        Assert.Contains("Q4_K", error.Message);
    }
}
