using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public class Q6_KFormatTests
{
    [Fact]
    public void ConstantsAgreeWithGgufGeometry()
    {
        Assert.Equal((256, 210), (Q6_KFormat.BlockSize, Q6_KFormat.BlockBytes));
        Assert.Equal((GgmlTypeInfo.BlockSize(GgmlType.Q6_K), GgmlTypeInfo.BlockBytes(GgmlType.Q6_K)),
            (Q6_KFormat.BlockSize, Q6_KFormat.BlockBytes));
        Assert.Equal((128, 192, 208), (Q6_KFormat.HighBitsOffset, Q6_KFormat.ScalesOffset, Q6_KFormat.ScaleOffset));
        Assert.Equal(GgmlType.Q8_K, Quantizer.ActivationType(GgmlType.Q6_K));
    }

    /// <summary>d = 0.5; scales[0] = 2, [2] = -3, [4] = 1, [8] = -1, all others 0.</summary>
    private static byte[] KnownBlock()
    {
        var block = new byte[210];
        block[208] = 0x00; block[209] = 0x38; // d = 0.5
        block[192 + 0] = 2;
        block[192 + 2] = unchecked((byte)-3);
        block[192 + 4] = 1;
        block[192 + 8] = unchecked((byte)-1);
        block[0] = 0x05;         // element 0 low bits 5; element 64 low bits 0
        block[32] = 0x01;        // element 32 low bits 1; element 96 low bits 0
        block[128] = 0x32;       // qh[0]: element 0 high 2 (bits 0-1), element 32 high 0, element 64 high 3
        block[64] = 0x0F;        // second half: element 128 low bits 15
        block[128 + 32] = 0x03;  // qh[32]: element 128 high 3
        return block;
    }

    [Fact]
    public void DequantizeMatchesHandComputedValues()
    {
        float[] y = KernelTestData.Dequantize(GgmlType.Q6_K, KnownBlock(), 256);
        Assert.Equal(0.5f * 2 * (37 - 32), y[0]);    // q = 5 | 2 << 4 = 37 -> 5
        Assert.Equal(0.5f * 2 * -32, y[1]);          // q = 0 -> -32
        Assert.Equal(0f, y[16]);                     // scales[1] = 0
        Assert.Equal(0.5f * -3 * (1 - 32), y[32]);   // 46.5
        Assert.Equal(0.5f * -3 * -32, y[33]);        // 48
        Assert.Equal(0.5f * 1 * (48 - 32), y[64]);   // q = 0 | 3 << 4 -> 8
        Assert.Equal(-16f, y[65]);
        Assert.Equal(0f, y[96]);                     // scales[6] = 0
        Assert.Equal(0.5f * -1 * (63 - 32), y[128]); // -15.5
        Assert.Equal(16f, y[129]);
        Assert.All(y[144..], v => Assert.Equal(0f, v));
    }

    [Fact]
    public void RoundTripErrorIsSmall()
    {
        float[] values = KernelTestData.RandomFloats(8192, seed: 13, scale: 2f);
        var (relative, worst) = KQuantTestData.RoundTrip(GgmlType.Q6_K, values);
        // 64 levels against each 16-element group's largest magnitude (half a step is 1/64 of it), plus the 8-bit
        // scale rounding (measured worst 0.019); measured relative squared error on these inputs: 0.00075.
        Assert.True(worst <= 1.0 / 32, $"worst error {worst} of the group range");
        Assert.True(relative < 0.0015, $"relative squared error {relative}");
    }

    [Fact]
    public void ZeroBlockQuantizesToZero()
    {
        byte[] bytes = KernelTestData.Quantize(GgmlType.Q6_K, new float[256]);
        Assert.All(KernelTestData.Dequantize(GgmlType.Q6_K, bytes, 256), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ScalarAndSimdDotsAgreeWithTheDequantizedDot() =>
        KQuantTestData.AssertDotsAgree(GgmlType.Q6_K, (w, a, n, level) => Q6_KFormat.Dot(w, a, n, level));

    [Fact]
    public void DotOfTheKnownBlockIsExact()
    {
        // Integer activations whose largest magnitude (first, at index 0) is 127: Q8_K stores them exactly with
        // d = 1, so every level's dot equals the exact dot of the dequantized values (all terms are small
        // multiples of 0.5 and the sums stay far below 2^24).
        var activationValues = new float[256];
        for (int j = 0; j < 256; j++) activationValues[j] = (j * 37 % 255) - 127;
        byte[] activations = KernelTestData.QuantizeActivations(GgmlType.Q6_K, activationValues);
        Assert.Equal(1f, BitConverter.ToSingle(activations, 0));
        float[] w = KernelTestData.Dequantize(GgmlType.Q6_K, KnownBlock(), 256);
        double exact = w.Zip(activationValues).Sum(p => (double)p.First * p.Second);
        foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
        {
            Assert.Equal(exact, Q6_KFormat.Dot(KnownBlock(), activations, 256, level));
        }
    }
}
