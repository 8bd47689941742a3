using LlamaDist.Gpu.Kernels;

namespace LlamaDist.Gpu.Tests;

/// <summary>The kernels' integer half ↔ float conversions against System.Half over every half bit pattern.</summary>
public sealed class HalfBitsTests
{
    [Fact]
    public void EveryHalfConvertsToTheSameFloatAsSystemHalf()
    {
        for (int bits = 0; bits <= 0xFFFF; bits++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
            float actual = HalfBits.ToSingle(bits);
            if (float.IsNaN(expected))
            {
                Assert.True(float.IsNaN(actual), $"half 0x{bits:X4}: {actual} is not NaN");
                Assert.Equal(BitConverter.SingleToInt32Bits(expected) < 0, BitConverter.SingleToInt32Bits(actual) < 0);
            }
            else
            {
                // Bit for bit, so -0 stays -0 and every subnormal is exact.
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual),
                    $"half 0x{bits:X4}: expected {expected}, got {actual}");
            }
        }
    }

    [Fact]
    public void EveryHalfRoundTripsThroughFloat()
    {
        for (int bits = 0; bits <= 0xFFFF; bits++)
        {
            if ((bits & 0x7C00) == 0x7C00 && (bits & 0x3FF) != 0)
            {
                continue; // NaN payloads are not kept by FromSingle (it returns one quiet NaN); checked below.
            }
            Assert.Equal(bits, HalfBits.FromSingle(HalfBits.ToSingle(bits)));
        }
        Assert.Equal(0x7E00, HalfBits.FromSingle(HalfBits.ToSingle(0x7C01)) & 0x7FFF);
    }
}
