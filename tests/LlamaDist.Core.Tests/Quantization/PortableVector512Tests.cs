using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>
/// The 512-bit kernels are only selected on AVX-512 CPUs, but most of their code runs anywhere: the F32/F16/BF16
/// ones use cross-platform Vector512 operations (software where AVX-512 is missing) and the int8 ones fall back to
/// two AVX2 halves for the multiply-add step. These tests call them directly so the two-blocks-per-register
/// layout, the scale vectors and the reductions are checked on AVX2 machines too; only the AVX-512BW
/// instruction branch of Int8Dot.MulSumPairs needs AVX-512 hardware (covered by the per-format sweeps there).
/// </summary>
public unsafe class PortableVector512Tests
{
    [Theory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    public void FloatVector512KernelsMatchScalar(GgmlType type)
    {
        delegate*<byte*, byte*, int, float> vector512 = type switch
        {
            GgmlType.F32 => &F32Format.DotVector512,
            GgmlType.F16 => &F16Format.DotVector512<F16Format.HalfActivations>,
            _ => &BF16Format.DotVector512,
        };
        foreach (int length in KernelTestData.SweepLengths(1).Where(n => n <= 700 || n % 96 == 64))
        {
            // Small integers: every partial sum is exact, so any order gives the same float.
            var random = new Random(length);
            float[] w = Enumerable.Range(0, length).Select(_ => (float)random.Next(-8, 9)).ToArray();
            float[] x = Enumerable.Range(0, length).Select(_ => (float)random.Next(-8, 9)).ToArray();
            byte[] wb = KernelTestData.Quantize(type, w), xb = KernelTestData.Quantize(type, x);
            float expected = (float)KernelTestData.ExactDot(w, x).Dot;
            fixed (byte* wp = wb)
            fixed (byte* xp = xb)
            {
                Assert.Equal(expected, vector512(wp, xp, length));
            }

            // Random values: equal to the scalar reference up to summation order.
            float[] wr = KernelTestData.RandomFloats(length, seed: length + 5);
            float[] xr = KernelTestData.RandomFloats(length, seed: length + 6, scale: 3f);
            byte[] wrb = KernelTestData.Quantize(type, wr), xrb = KernelTestData.Quantize(type, xr);
            var (_, absoluteSum) = KernelTestData.ExactDot(
                KernelTestData.Dequantize(type, wrb, length), KernelTestData.Dequantize(type, xrb, length));
            float scalar = Quantizer.Dot(type, wrb, xrb, length, SimdLevel.Scalar);
            fixed (byte* wp = wrb)
            fixed (byte* xp = xrb)
            {
                float simd = vector512(wp, xp, length);
                Assert.True(Math.Abs(simd - scalar) <= KernelTestData.SummationTolerance(length, absoluteSum),
                    $"{type} length {length}: {simd} vs {scalar}");
            }
        }
    }

    [SkippableTheory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    public void Int8Vector512KernelsMatchScalar(GgmlType type)
    {
        Skip.If(!System.Runtime.Intrinsics.X86.Avx2.IsSupported || !System.Runtime.Intrinsics.X86.Fma.IsSupported,
            "Neither the AVX-512 kernels nor their AVX2 fallback can run on this CPU (no AVX2+FMA).");
        delegate*<byte*, byte*, int, float> vector512 =
            type == GgmlType.Q8_0 ? &Q8_0Format.DotVector512 : &Q4_0Format.DotVector512;
        foreach (int length in KernelTestData.SweepLengths(32))
        {
            float[] w = KernelTestData.RandomFloats(length, seed: length + 11);
            float[] x = KernelTestData.RandomFloats(length, seed: length + 12, scale: 4f);
            byte[] wb = KernelTestData.Quantize(type, w);
            byte[] xb = KernelTestData.QuantizeActivations(type, x);
            var (_, absoluteSum) = KernelTestData.ExactDot(
                KernelTestData.Dequantize(type, wb, length), KernelTestData.Dequantize(GgmlType.Q8_0, xb, length));
            float scalar = Quantizer.Dot(type, wb, xb, length, SimdLevel.Scalar);
            fixed (byte* wp = wb)
            fixed (byte* xp = xb)
            {
                float simd = vector512(wp, xp, length);
                Assert.True(Math.Abs(simd - scalar) <= 2 * KernelTestData.SummationTolerance(length / 32 + 8, absoluteSum),
                    $"{type} length {length}: {simd} vs {scalar}");
            }
        }
    }

    [SkippableFact]
    public void Int8Vector512KernelsAreExactOnIntegerBlocks()
    {
        Skip.If(!System.Runtime.Intrinsics.X86.Avx2.IsSupported || !System.Runtime.Intrinsics.X86.Fma.IsSupported,
            "Neither the AVX-512 kernels nor their AVX2 fallback can run on this CPU (no AVX2+FMA).");
        foreach (int length in KernelTestData.SweepLengths(32))
        {
            float[] w = Q8_0FormatTests.IntegerBlocks(length, seed: length, magnitude: 127);
            float[] x = Q8_0FormatTests.IntegerBlocks(length, seed: length + 1, magnitude: 3);
            byte[] wb = KernelTestData.Quantize(GgmlType.Q8_0, w);
            byte[] xb = KernelTestData.QuantizeActivations(GgmlType.Q8_0, x);
            fixed (byte* wp = wb)
            fixed (byte* xp = xb)
            {
                Assert.Equal((float)KernelTestData.ExactDot(w, x).Dot, Q8_0Format.DotVector512(wp, xp, length));
            }
        }
    }
}
