using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public unsafe class Int8Dot512Tests
{
    [SkippableTheory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    public void The_AVX_VNNI_halves_give_the_512_bit_kernel_bits(GgmlType type)
    {
        Skip.IfNot(SimdCapabilities.IsSupported(SimdLevel.Vector512) && System.Runtime.Intrinsics.X86.AvxVnni.IsSupported,
            "Needs AVX-512BW (the 512-bit sequence) and AVX-VNNI (the halves).");
        // Odd block counts leave a last block for the 256-bit step; -127 / 127 extremes and zeros included.
        foreach (int blocks in new[] { 1, 2, 7, 64, 65 })
        {
            int columns = blocks * 32;
            float[] w = KernelTestData.RandomFloats(columns, seed: blocks, scale: 1f);
            float[] x = KernelTestData.RandomFloats(columns, seed: blocks + 100, scale: 3f);
            w[0] = 0; x[1] = 0; w[5] = -4f; x[6] = 9f;
            byte[] weights = KernelTestData.Quantize(type, w);
            byte[] activations = KernelTestData.QuantizeActivations(type, x);
            fixed (byte* wp = weights)
            fixed (byte* ap = activations)
            {
                float halves = type == GgmlType.Q8_0
                    ? Q8_0Format.DotVector512AsHalves(wp, ap, columns) : Q4_0Format.DotVector512AsHalves(wp, ap, columns);
                float wide = type == GgmlType.Q8_0
                    ? Q8_0Format.DotVector512Wide(wp, ap, columns) : Q4_0Format.DotVector512Wide(wp, ap, columns);
                Assert.Equal(BitConverter.SingleToUInt32Bits(wide), BitConverter.SingleToUInt32Bits(halves));
            }
        }
    }
}
