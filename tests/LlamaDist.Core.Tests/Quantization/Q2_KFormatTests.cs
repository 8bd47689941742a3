using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public class Q2_KFormatTests
{
    [Fact]
    public void ConstantsAgreeWithGgufGeometry()
    {
        Assert.Equal((256, 84), (Q2_KFormat.BlockSize, Q2_KFormat.BlockBytes));
        Assert.Equal((GgmlTypeInfo.BlockSize(GgmlType.Q2_K), GgmlTypeInfo.BlockBytes(GgmlType.Q2_K)),
            (Q2_KFormat.BlockSize, Q2_KFormat.BlockBytes));
        Assert.Equal((16, 80, 82), (Q2_KFormat.QuantsOffset, Q2_KFormat.ScaleOffset, Q2_KFormat.MinScaleOffset));
        Assert.Equal(GgmlType.Q8_K, Quantizer.ActivationType(GgmlType.Q2_K));
    }

    /// <summary>
    /// d = 0.5, dmin = 0.25; sub-block 0: scale 2, min 4; sub-block 1: scale 3, min 1; sub-block 2: scale 5, min 0;
    /// sub-block 10: scale 7, min 15; all others 0.
    /// </summary>
    private static byte[] KnownBlock()
    {
        var block = new byte[84];
        block[80] = 0x00; block[81] = 0x38; // d = 0.5
        block[82] = 0x00; block[83] = 0x34; // dmin = 0.25
        block[0] = 0x42;  // scale 2 (low nibble), min 4 (high nibble)
        block[1] = 0x13;  // scale 3, min 1
        block[2] = 0x05;  // scale 5, min 0
        block[10] = 0xF7; // scale 7, min 15
        block[16 + 0] = 0xE7;  // qs[0]: element 0 <- 3, element 32 <- 1, element 64 <- 2, element 96 <- 3
        block[16 + 16] = 0x02; // qs[16]: element 16 <- 2
        block[16 + 32] = 0x08; // qs[32] (second half): element 128 <- 0, element 160 <- 2
        return block;
    }

    [Fact]
    public void DequantizeMatchesHandComputedValues()
    {
        float[] y = KernelTestData.Dequantize(GgmlType.Q2_K, KnownBlock(), 256);
        Assert.Equal(0.5f * 2 * 3 - 0.25f * 4, y[0]);       // 2
        Assert.All(y[1..16], v => Assert.Equal(-1f, v));    // q = 0: -dmin * 4
        Assert.Equal(0.5f * 3 * 2 - 0.25f * 1, y[16]);      // 2.75
        Assert.All(y[17..32], v => Assert.Equal(-0.25f, v));
        Assert.Equal(0.5f * 5 * 1, y[32]);                  // 2.5
        Assert.All(y[33..160], v => Assert.Equal(0f, v));   // element 64 / 96 / 128 sit in all-zero sub-blocks
        Assert.Equal(0.5f * 7 * 2 - 0.25f * 15, y[160]);    // 3.25
        Assert.All(y[161..176], v => Assert.Equal(-3.75f, v));
        Assert.All(y[176..], v => Assert.Equal(0f, v));
    }

    [Fact]
    public void RequantizingTheKnownBlockStaysWithinOneStep()
    {
        // The fit picks its own scales (so bytes differ), but re-quantizing a dequantized row must land within
        // one step (range / 3) of every value of its 16-element sub-block.
        float[] y = KernelTestData.Dequantize(GgmlType.Q2_K, KnownBlock(), 256);
        float[] again = KernelTestData.Dequantize(GgmlType.Q2_K, KernelTestData.Quantize(GgmlType.Q2_K, y), 256);
        for (int s = 0; s < 16; s++)
        {
            var slice = y.Skip(s * 16).Take(16).ToArray();
            double step = (Math.Max(slice.Max(), 0) - Math.Min(slice.Min(), 0)) / 3.0;
            for (int j = s * 16; j < s * 16 + 16; j++)
            {
                Assert.True(Math.Abs(again[j] - y[j]) <= step + 1e-6, $"element {j}: {y[j]} -> {again[j]}");
            }
        }
    }

    [Fact]
    public void RoundTripErrorIsSmall()
    {
        float[] values = KernelTestData.RandomFloats(8192, seed: 14, scale: 2f);
        var (relative, worst) = KQuantTestData.RoundTrip(GgmlType.Q2_K, values);
        // 4 levels per 16-element sub-block, with 4-bit scales and mins: a step is a third of the sub-block
        // range (measured worst 0.29 of the 32-element group range; relative squared error 0.083 on these inputs).
        Assert.True(worst <= 0.35, $"worst error {worst} of the group range");
        Assert.True(relative < 0.10, $"relative squared error {relative}");
    }

    [Fact]
    public void ConstantAndZeroBlocksAreRepresented()
    {
        var values = new float[512];
        Array.Fill(values, -1.5f, 0, 256); // constant negative: min 1.5, scale 0
        float[] back = KernelTestData.Dequantize(GgmlType.Q2_K, KernelTestData.Quantize(GgmlType.Q2_K, values), 512);
        Assert.All(back[..256], v => Assert.Equal(-1.5f, v, 0.01f));
        Assert.All(back[256..], v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ScalarAndSimdDotsAgreeWithTheDequantizedDot() =>
        KQuantTestData.AssertDotsAgree(GgmlType.Q2_K, (w, a, n, level) => Q2_KFormat.Dot(w, a, n, level));

    [Fact]
    public void DotOfTheKnownBlockIsExact()
    {
        // Integer activations with d = 1 (see Q6_KFormatTests): every level's dot equals the exact dot of the
        // dequantized values, the minimums (through the Q8_K group sums) included.
        var activationValues = new float[256];
        for (int j = 0; j < 256; j++) activationValues[j] = (j * 37 % 255) - 127;
        byte[] activations = KernelTestData.QuantizeActivations(GgmlType.Q2_K, activationValues);
        Assert.Equal(1f, BitConverter.ToSingle(activations, 0));
        float[] w = KernelTestData.Dequantize(GgmlType.Q2_K, KnownBlock(), 256);
        double exact = w.Zip(activationValues).Sum(p => (double)p.First * p.Second);
        foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
        {
            Assert.Equal(exact, Q2_KFormat.Dot(KnownBlock(), activations, 256, level));
        }
    }

    [Fact]
    public void RowsThatAreNotWholeSuperBlocksAreRejected()
    {
        var error = Assert.Throws<ArgumentException>(() => Q2_KFormat.DequantizeRow(new byte[168], new float[320]));
        Assert.Contains("Q2_K", error.Message);
    }
}
