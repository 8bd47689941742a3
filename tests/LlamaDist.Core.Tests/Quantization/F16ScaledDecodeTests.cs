using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public unsafe class F16ScaledDecodeTests
{
    [SkippableTheory]
    [InlineData(SimdLevel.Vector256)]
    [InlineData(SimdLevel.Vector512)]
    public void Scaled_row_and_pair_kernels_give_the_row_kernel_bits_for_every_kind_of_half(SimdLevel level)
    {
        // MatrixKernels decodes F16 through these kernels, two rows far apart at a time; each result must be the
        // row kernel's at the same level, also where a row holds Inf or NaN (handed to the exact body).
        Skip.IfNot(SimdCapabilities.IsSupported(level), $"This CPU does not run {level}.");
        delegate*<byte*, byte*, int, float> rowKernel = F16Format.RoundedSingleDotKernel(level);
        delegate*<byte*, byte*, int, float> scaledKernel =
            level == SimdLevel.Vector512 ? &F16Format.DotScaled512 : &F16Format.DotScaled256;
        delegate*<byte*, long, byte*, int, float*, void> pairKernel =
            level == SimdLevel.Vector512 ? &F16Format.DotScaled512Pair : &F16Format.DotScaled256Pair;
        // Lengths with and without leftovers past the 64-wide steps; specials: none, subnormal halves, Inf in
        // the first row, NaN in the second, the largest half.
        foreach (int length in new[] { 7, 32, 64, 100, 320, 2048, 2100 })
        {
            float[] x = KernelTestData.RandomFloats(length, seed: length + 3, scale: 3f);
            x[length / 3] = 65504f;     // the largest half: x * 2^112 must still be finite
            x[length / 5] = 3e-7f;      // a subnormal half activation
            var rounded = new float[length];
            var scaled = new float[length];
            fixed (float* source = x)
            fixed (float* r = rounded)
            fixed (float* s = scaled)
            {
                F16Format.RoundActivationRow(source, r, length);
                F16Format.RoundAndScaleActivationRow(source, s, length);
            }
            foreach ((ushort special, bool inFirst) in new[] { ((ushort)0, true), ((ushort)0x0003, true),
                         ((ushort)0x8201, false), ((ushort)0x7C00, true), ((ushort)0xFE01, false), ((ushort)0x7BFF, true) })
            {
                byte[] rows = KernelTestData.Quantize(GgmlType.F16,
                    KernelTestData.RandomFloats(2 * length + 100, seed: length, scale: 1f));
                if (special != 0)
                {
                    int index = (inFirst ? 0 : length + 100) + length / 2;
                    BitConverter.TryWriteBytes(rows.AsSpan(2 * index), special);
                    BitConverter.TryWriteBytes(rows.AsSpan(2 * (index + 1)), (ushort)0x0001); // smallest subnormal
                }
                fixed (byte* w = rows)
                fixed (float* r = rounded)
                fixed (float* s = scaled)
                {
                    float* pair = stackalloc float[2];
                    long secondOffset = 2L * (length + 100);
                    pairKernel(w, secondOffset, (byte*)s, length, pair);
                    uint expectedFirst = Bits(rowKernel(w, (byte*)r, length));
                    uint expectedSecond = Bits(rowKernel(w + secondOffset, (byte*)r, length));
                    Assert.Equal(expectedFirst, Bits(pair[0]));
                    Assert.Equal(expectedSecond, Bits(pair[1]));
                    Assert.Equal(expectedFirst, Bits(scaledKernel(w, (byte*)s, length)));
                    Assert.Equal(expectedSecond, Bits(scaledKernel(w + secondOffset, (byte*)s, length)));
                }
            }
        }
    }

    private static uint Bits(float value) => BitConverter.SingleToUInt32Bits(value);
}
