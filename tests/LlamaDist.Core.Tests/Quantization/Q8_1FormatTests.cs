using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public class Q8_1FormatTests
{
    [Fact]
    public void FirstBlockMatchesGgmlQuantizeRowQ8_1()
    {
        // ggml's x86 quantize_row_q8_1 on LegacyQuantParityTests.Activations(96), first block: d, s, 32 quants.
        byte[] bytes = KernelTestData.QuantizeActivations(GgmlType.Q4_1, LegacyQuantParityTests.Activations(96));
        Assert.Equal("b625f1c381aedb0835628fbce91643709dcaf724517eabd805325f8cb9e613406d99c6f4",
            Convert.ToHexStringLower(bytes.AsSpan(0, 36)));
    }

    [Fact]
    public void ScaledSumIsDTimesTheSumOfTheQuants()
    {
        float[] x = KernelTestData.RandomFloats(256, seed: 5, scale: 3f);
        foreach (byte[] bytes in new[] { KernelTestData.Quantize(GgmlType.Q8_1, x),
                     KernelTestData.QuantizeActivations(GgmlType.Q5_1, x) })
        {
            for (int b = 0; b < 8; b++)
            {
                float amax = x.Skip(b * 32).Take(32).Max(MathF.Abs);
                int sum = 0;
                for (int j = 0; j < 32; j++) sum += (sbyte)bytes[b * 36 + 4 + j];
                Assert.Equal((Half)(amax / 127f), BitConverter.ToHalf(bytes, b * 36));
                Assert.Equal((Half)(amax / 127f * sum), BitConverter.ToHalf(bytes, b * 36 + 2));
            }
        }
    }

    [Fact]
    public void RoundTripIsWithinHalfAStepAndZeroBlocksStayZero()
    {
        float[] x = KernelTestData.RandomFloats(128, seed: 8);
        Array.Clear(x, 64, 32);
        float[] back = KernelTestData.Dequantize(GgmlType.Q8_1, KernelTestData.Quantize(GgmlType.Q8_1, x), 128);
        for (int i = 0; i < 128; i++)
        {
            float amax = x.Skip(i / 32 * 32).Take(32).Max(MathF.Abs);
            Assert.True(Math.Abs(back[i] - x[i]) <= amax / 254f * 1.01f + amax / 2048f, $"element {i}");
        }
        Assert.All(back[64..96], value => Assert.Equal(0f, value));
        Assert.False(Quantizer.IsSupported(GgmlType.Q8_1)); // an activation type only, never a weight type here
        Assert.Equal(36, GgmlTypeInfo.BlockBytes(GgmlType.Q8_1));
    }
}
