using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public class Q5_KFormatTests
{
    [Fact]
    public void ConstantsAgreeWithGgufGeometry()
    {
        Assert.Equal((256, 176), (Q5_KFormat.BlockSize, Q5_KFormat.BlockBytes));
        Assert.Equal((GgmlTypeInfo.BlockSize(GgmlType.Q5_K), GgmlTypeInfo.BlockBytes(GgmlType.Q5_K)),
            (Q5_KFormat.BlockSize, Q5_KFormat.BlockBytes));
        Assert.Equal((4, 16, 48), (Q5_KFormat.ScalesOffset, Q5_KFormat.HighBitsOffset, Q5_KFormat.QuantsOffset));
        Assert.Equal(GgmlType.Q8_K, Quantizer.ActivationType(GgmlType.Q5_K));
    }

    /// <summary>
    /// d = 0.5, dmin = 0.25; sub-block 0: scale 2, min 4; sub-block 1: scale 3, min 1; sub-block 5: scale 1, min 0
    /// (scales packed as in Q4_K); a few quants with their fifth bit set in qh.
    /// </summary>
    private static byte[] KnownBlock()
    {
        var block = new byte[176];
        block[1] = 0x38;      // d = 0.5
        block[3] = 0x34;      // dmin = 0.25
        block[4 + 0] = 2;     // scale 0
        block[4 + 1] = 3;     // scale 1
        block[4 + 4] = 4;     // min 0
        block[4 + 5] = 1;     // min 1
        block[4 + 9] = 0x01;  // sub-block 5: scale low nibble 1, min 0
        block[16 + 0] = 0b0010_0011; // qh[0]: element 0 (bit 0) and 32 (bit 1) have bit 4; element 160 (bit 5) too
        block[16 + 1] = 0b0000_0010; // qh[1]: element 33 has bit 4
        block[48 + 0] = 0x3A; // element 0 <- 10 + 16, element 32 <- 3 + 16
        block[48 + 1] = 0x05; // element 1 <- 5, element 33 <- 0 + 16
        block[48 + 64] = 0x70; // element 160 <- 7 + 16 (high nibble of the third chunk)
        return block;
    }

    [Fact]
    public void DequantizeMatchesHandComputedValues()
    {
        float[] y = KernelTestData.Dequantize(GgmlType.Q5_K, KnownBlock(), 256);
        Assert.Equal(0.5f * 2 * 26 - 0.25f * 4, y[0]);  // 25
        Assert.Equal(0.5f * 2 * 5 - 0.25f * 4, y[1]);   // 4
        Assert.Equal(-1f, y[2]);
        Assert.Equal(0.5f * 3 * 19 - 0.25f * 1, y[32]); // 28.25
        Assert.Equal(0.5f * 3 * 16 - 0.25f * 1, y[33]); // 23.75
        Assert.Equal(-0.25f, y[34]);
        Assert.All(y[64..160], v => Assert.Equal(0f, v));
        Assert.Equal(0.5f * 1 * 23, y[160]);            // 11.5
        Assert.All(y[161..192], v => Assert.Equal(0f, v));
    }

    [Fact]
    public void RoundTripErrorIsSmall()
    {
        float[] values = KernelTestData.RandomFloats(8192, seed: 14, scale: 2f);
        var (relative, worst) = KQuantTestData.RoundTrip(GgmlType.Q5_K, values);
        // 31 levels per 32-element range (rounding 1/62 of it) plus the 6-bit scale/min rounding, which can
        // stretch a step or shift the minimum: allow 1/25 (measured worst 0.034). Measured relative squared
        // error on these inputs: 0.0021 (a quarter of Q4_K's, as one more bit should give).
        Assert.True(worst <= 1.0 / 25, $"worst error {worst} of the group range");
        Assert.True(relative < 0.003, $"relative squared error {relative}");
    }

    [Fact]
    public void ScalarAndSimdDotsAgreeWithTheDequantizedDot() =>
        KQuantTestData.AssertDotsAgree(GgmlType.Q5_K, (w, a, n, level) => Q5_KFormat.Dot(w, a, n, level));

    [Fact]
    public void DotOfTheKnownBlockIsExact()
    {
        // Integer activations whose first, largest magnitude is 127: Q8_K stores them exactly with d = 1.
        var activationValues = new float[256];
        for (int j = 0; j < 256; j++) activationValues[j] = (j * 37 % 255) - 127;
        byte[] activations = KernelTestData.QuantizeActivations(GgmlType.Q5_K, activationValues);
        Assert.Equal(1f, BitConverter.ToSingle(activations, 0));
        float[] w = KernelTestData.Dequantize(GgmlType.Q5_K, KnownBlock(), 256);
        double exact = w.Zip(activationValues).Sum(p => (double)p.First * p.Second);
        foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
        {
            Assert.Equal(exact, Q5_KFormat.Dot(KnownBlock(), activations, 256, level));
        }
    }
}
