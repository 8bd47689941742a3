using System.Runtime.Intrinsics;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public class F16FormatTests
{
    [Theory]
    [InlineData(1.0f, 0x3C00)]
    [InlineData(-2.0f, 0xC000)]
    [InlineData(0.0f, 0x0000)]
    [InlineData(-0.0f, 0x8000)]
    [InlineData(65504f, 0x7BFF)]                 // largest finite half
    [InlineData(65519.99f, 0x7BFF)]              // just under the halfway point to 65536
    [InlineData(65520f, 0x7C00)]                 // halfway: ties to even -> infinity
    [InlineData(float.PositiveInfinity, 0x7C00)]
    [InlineData(float.NegativeInfinity, 0xFC00)]
    [InlineData(0.333333343f, 0x3555)]
    [InlineData(1.0009765625f, 0x3C01)]          // 1 + 2^-10, exactly one half ulp above 1
    [InlineData(1.00048828125f, 0x3C00)]         // 1 + 2^-11: tie, even mantissa stays
    [InlineData(1.00146484375f, 0x3C02)]         // 1 + 3 * 2^-11: tie, odd mantissa rounds up
    [InlineData(5.9604644775390625e-08f, 0x0001)] // 2^-24, smallest subnormal
    [InlineData(2.98023223876953125e-08f, 0x0000)] // 2^-25: tie between 0 and 2^-24 -> even (0)
    [InlineData(8.94069671630859375e-08f, 0x0002)] // 3 * 2^-25: tie between 1 and 2 ulps -> even (2)
    [InlineData(6.103515625e-05f, 0x0400)]       // 2^-14, smallest normal
    public void FromSingleRoundsToNearestEven(float value, int expectedBits)
    {
        Assert.Equal((ushort)expectedBits, F16Format.FromSingle(value));
    }

    [Fact]
    public void NaNBecomesCanonicalQuietNaNWithSign()
    {
        Assert.Equal(0x7E00, F16Format.FromSingle(float.NaN) & 0x7FFF);
        Assert.Equal(0x7E00, F16Format.FromSingle(BitConverter.UInt32BitsToSingle(0x7F800001u))); // signalling
        Assert.Equal(0xFE00, F16Format.FromSingle(BitConverter.UInt32BitsToSingle(0xFFC12345u)));
    }

    [Fact]
    public void FromSingleMatchesHalfConversionForEveryNonNaNExponent()
    {
        // .NET's (Half) cast is IEEE round-to-nearest-even; ggml's bit trick must agree on every finite input.
        var random = new Random(1234);
        for (int i = 0; i < 200_000; i++)
        {
            uint bits = (uint)random.NextInt64(0, 1L << 32);
            float value = BitConverter.UInt32BitsToSingle(bits);
            if (float.IsNaN(value)) continue;
            Assert.Equal(BitConverter.HalfToUInt16Bits((Half)value), F16Format.FromSingle(value));
        }
    }

    [Fact]
    public void ToSingleIsExactForEveryHalf()
    {
        for (int bits = 0; bits < 65536; bits++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
            float actual = F16Format.ToSingle((ushort)bits);
            if (float.IsNaN(expected))
            {
                Assert.True(float.IsNaN(actual));
                continue;
            }
            Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(actual));
            if (!float.IsInfinity(expected))
            {
                Assert.Equal((ushort)bits, F16Format.FromSingle(actual)); // exact round trip
            }
        }
    }

    [Fact]
    public void VectorHalfToSingleMatchesScalarForEveryHalf()
    {
        var expected = new uint[65536];
        for (int bits = 0; bits < 65536; bits++)
        {
            expected[bits] = BitConverter.SingleToUInt32Bits(F16Format.ToSingle((ushort)bits));
        }
        for (int start = 0; start < 65536; start += 16)
        {
            Vector512<uint> lanes = Vector512.Create((uint)start) + Vector512.Create(0u, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            Vector512<float> wide = F16Format.HalfToSingle(lanes);
            Vector256<float> middle = F16Format.HalfToSingle(lanes.GetLower());
            Vector128<float> narrow = F16Format.HalfToSingle(lanes.GetLower().GetLower());
            for (int lane = 0; lane < 16; lane++)
            {
                int bits = start + lane;
                AssertSameFloat(expected[bits], wide.GetElement(lane), bits);
                if (lane < 8) AssertSameFloat(expected[bits], middle.GetElement(lane), bits);
                if (lane < 4) AssertSameFloat(expected[bits], narrow.GetElement(lane), bits);
            }
        }
    }

    [Fact]
    public void RoundTripErrorIsWithinHalfAnUlp()
    {
        float[] values = KernelTestData.RandomFloats(4096, seed: 5, scale: 100f);
        byte[] bytes = KernelTestData.Quantize(GgmlType.F16, values);
        Assert.Equal(8192, bytes.Length);
        float[] back = KernelTestData.Dequantize(GgmlType.F16, bytes, values.Length);
        for (int i = 0; i < values.Length; i++)
        {
            // relative precision 2^-11 for normal halves (values here are far above the subnormal range or zero).
            Assert.True(Math.Abs(back[i] - values[i]) <= Math.Abs(values[i]) * 0.00048828125f + 3e-8f,
                $"element {i}: {values[i]} -> {back[i]}");
        }
    }

    [Fact]
    public void DotOfSmallIntegersIsExactAtEveryLevel()
    {
        foreach (int length in KernelTestData.SweepLengths(1))
        {
            var random = new Random(length);
            float[] w = Enumerable.Range(0, length).Select(_ => (float)random.Next(-8, 9)).ToArray();
            float[] x = Enumerable.Range(0, length).Select(_ => (float)random.Next(-8, 9)).ToArray();
            float expected = (float)KernelTestData.ExactDot(w, x).Dot;
            byte[] wb = KernelTestData.Quantize(GgmlType.F16, w), xb = KernelTestData.Quantize(GgmlType.F16, x);
            foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
            {
                Assert.Equal(expected, F16Format.Dot(wb, xb, length, level));
            }
        }
    }

    [Fact]
    public void SimdDotMatchesScalarUpToSummationOrder()
    {
        foreach (int length in KernelTestData.SweepLengths(1))
        {
            float[] w = KernelTestData.RandomFloats(length, seed: length);
            float[] x = KernelTestData.RandomFloats(length, seed: length + 7919, scale: 3f);
            byte[] wb = KernelTestData.Quantize(GgmlType.F16, w), xb = KernelTestData.Quantize(GgmlType.F16, x);
            var (_, absoluteSum) = KernelTestData.ExactDot(
                KernelTestData.Dequantize(GgmlType.F16, wb, length), KernelTestData.Dequantize(GgmlType.F16, xb, length));
            float scalar = F16Format.Dot(wb, xb, length, SimdLevel.Scalar);
            foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
            {
                float simd = F16Format.Dot(wb, xb, length, level);
                Assert.True(Math.Abs(simd - scalar) <= KernelTestData.SummationTolerance(length, absoluteSum),
                    $"length {length} level {level}: {simd} vs {scalar}");
            }
        }
    }

    [Fact]
    public unsafe void RoundedSingleActivationKernelEqualsHalfActivationKernelBitForBit()
    {
        // MatrixKernels keeps F16 activations as half-rounded floats; that must not change a single bit.
        foreach (int length in KernelTestData.SweepLengths(1))
        {
            float[] w = KernelTestData.RandomFloats(length, seed: length + 1);
            float[] x = KernelTestData.RandomFloats(length, seed: length + 2, scale: 3f);
            byte[] wb = KernelTestData.Quantize(GgmlType.F16, w), xb = KernelTestData.Quantize(GgmlType.F16, x);
            var rounded = new float[length];
            fixed (float* source = x)
            fixed (float* destination = rounded)
            {
                F16Format.RoundActivationRow(source, destination, length);
            }
            Assert.Equal(KernelTestData.Dequantize(GgmlType.F16, xb, length), rounded);
            fixed (byte* wp = wb)
            fixed (byte* xp = xb)
            fixed (float* rp = rounded)
            {
                foreach (SimdLevel level in SimdCapabilities.SupportedLevels)
                {
                    float viaHalves = F16Format.DotKernel(level)(wp, xp, length);
                    float viaSingles = F16Format.RoundedSingleDotKernel(level)(wp, (byte*)rp, length);
                    Assert.Equal(BitConverter.SingleToUInt32Bits(viaHalves), BitConverter.SingleToUInt32Bits(viaSingles));
                }
            }
        }
    }

    [Fact]
    public unsafe void Rounding_a_row_gives_the_scalar_rounding_of_every_element_bit_for_bit()
    {
        // RoundActivationRow works eight floats at a time; every lane must round exactly like FromSingle: specials,
        // the edges of the half range (overflow to infinity, subnormals, underflow to zero) and random bit patterns.
        var values = new List<float>
        {
            0f, -0f, 1f, -1f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, -float.NaN,
            BitConverter.UInt32BitsToSingle(0x7F800001), BitConverter.UInt32BitsToSingle(0xFFC00123),
            65504f, 65519.99f, 65520f, -65520f, 1e9f, float.MaxValue, float.Epsilon, -float.Epsilon,
            5.96e-8f, 2.98e-8f, 2.99e-8f, 6.1e-5f, 6.09e-5f, 3e-5f, 1.0009766f, 1.00048828f, 1.00146484f,
        };
        var random = new Random(5);
        for (int i = 0; i < 200_000; i++)
        {
            values.Add(BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32)));
            values.Add((float)(random.NextDouble() - 0.5) * MathF.Pow(2, random.Next(-30, 20)));
        }
        float[] source = values.ToArray();
        var rounded = new float[source.Length + 3];
        fixed (float* sourcePointer = source)
        fixed (float* destination = rounded)
        {
            // Starting one element in and ending short of a multiple of eight puts values in every lane and the tail.
            F16Format.RoundActivationRow(sourcePointer + 1, destination + 1, source.Length - 1);
        }
        for (int i = 1; i < source.Length; i++)
        {
            uint expected = BitConverter.SingleToUInt32Bits(F16Format.ToSingle(F16Format.FromSingle(source[i])));
            uint actual = BitConverter.SingleToUInt32Bits(rounded[i]);
            Assert.True(expected == actual,
                $"0x{BitConverter.SingleToUInt32Bits(source[i]):X8}: 0x{actual:X8} vs 0x{expected:X8}");
        }
    }

    private static void AssertSameFloat(uint expectedBits, float actual, int halfBits)
    {
        float expected = BitConverter.UInt32BitsToSingle(expectedBits);
        if (float.IsNaN(expected))
        {
            Assert.True(float.IsNaN(actual), $"half 0x{halfBits:X4} should be NaN");
            return;
        }
        Assert.True(expectedBits == BitConverter.SingleToUInt32Bits(actual),
            $"half 0x{halfBits:X4}: expected {expected} got {actual}");
    }
}
