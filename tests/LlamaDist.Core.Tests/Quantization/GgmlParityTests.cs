using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>
/// Golden dot products from a C transcription of ggml's x86 AVX2 kernels (ggml_vec_dot_f32/_f16/_bf16,
/// ggml_vec_dot_q8_0_q8_0/_q4_0_q8_0, and the AVX2 quantize_row_q8_0 / F16C conversion of the activations),
/// compiled with gcc -mavx2 -mfma -mf16c and fed these exact inputs. The Vector256 kernels must reproduce them
/// bit for bit: a change of summation order or of activation rounding breaks parity with llama.cpp and fails
/// here. Lengths: 96 (three 32-element steps), 4096 and 4128.
/// </summary>
public class GgmlParityTests
{
    [SkippableTheory]
    [InlineData(GgmlType.F32, 96, 0xBFCB3BDFu)]
    [InlineData(GgmlType.F16, 96, 0xBEB7EA1Au)]
    [InlineData(GgmlType.BF16, 96, 0xBEF2994Cu)]
    [InlineData(GgmlType.Q8_0, 96, 0xBEF4D642u)]
    [InlineData(GgmlType.Q4_0, 96, 0xBF43F43Eu)]
    [InlineData(GgmlType.F32, 4096, 0x3FE46799u)]
    [InlineData(GgmlType.F16, 4096, 0x4059AE06u)]
    [InlineData(GgmlType.BF16, 4096, 0xBF9E97A0u)]
    [InlineData(GgmlType.Q8_0, 4096, 0xBFE443CAu)]
    [InlineData(GgmlType.Q4_0, 4096, 0x3E3B700Cu)]
    [InlineData(GgmlType.F32, 4128, 0xC0535902u)]
    [InlineData(GgmlType.F16, 4128, 0xC0EBA2B8u)]
    [InlineData(GgmlType.BF16, 4128, 0x3E347510u)]
    [InlineData(GgmlType.Q8_0, 4128, 0x413A9084u)]
    [InlineData(GgmlType.Q4_0, 4128, 0xC19ADCC8u)]
    public void Vector256DotIsBitIdenticalToGgmlAvx2(GgmlType type, int length, uint expectedBits)
    {
        Skip.IfNot(SimdCapabilities.IsSupported(SimdLevel.Vector256), "The golden values are for ggml's AVX2 code path, which this CPU cannot run.");
        var random = new Random(length);
        var activations = new float[length];
        for (int i = 0; i < length; i++)
        {
            activations[i] = (float)((random.NextDouble() - 0.5) * (1 + 7 * random.NextDouble()));
        }
        random = new Random(length * 100 + (int)type);
        var weights = new float[length];
        for (int i = 0; i < length; i++)
        {
            weights[i] = (float)((random.NextDouble() - 0.5) * 0.2);
        }

        byte[] weightRow = KernelTestData.Quantize(type, weights);
        byte[] activationRow = KernelTestData.QuantizeActivations(type, activations);
        float dot = Quantizer.Dot(type, weightRow, activationRow, length, SimdLevel.Vector256);
        Assert.Equal($"0x{expectedBits:X8}", $"0x{BitConverter.SingleToUInt32Bits(dot):X8}");
    }

    /// <summary>
    /// The same check for the K-quants Q2_K and Q3_K (ggml_vec_dot_q2_K_q8_K / _q3_K_q8_K, AVX2 branch, with
    /// quantize_row_q8_K_ref activations) at lengths 256, 4096 and 4352 (1, 16 and 17 super-blocks). The weight
    /// rows are random bytes with a random small fp16 d (and dmin), so the golden values do not depend on this
    /// project's quantizer; the activations are the same as above.
    /// </summary>
    [SkippableTheory]
    [InlineData(GgmlType.Q2_K, 256, 0x401BA209u)]
    [InlineData(GgmlType.Q2_K, 4096, 0x404BDDE8u)]
    [InlineData(GgmlType.Q2_K, 4352, 0x3D83CF80u)]
    [InlineData(GgmlType.Q3_K, 256, 0xC0299583u)]
    [InlineData(GgmlType.Q3_K, 4096, 0x41D4F166u)]
    [InlineData(GgmlType.Q3_K, 4352, 0xC20F7668u)]
    public void Vector256KQuantDotIsBitIdenticalToGgmlAvx2(GgmlType type, int length, uint expectedBits)
    {
        Skip.IfNot(SimdCapabilities.IsSupported(SimdLevel.Vector256), "The golden values are for ggml's AVX2 code path, which this CPU cannot run.");
        var random = new Random(length);
        var activations = new float[length];
        for (int i = 0; i < length; i++)
        {
            activations[i] = (float)((random.NextDouble() - 0.5) * (1 + 7 * random.NextDouble()));
        }
        byte[] weightRow = RandomKQuantRow(type, length);
        byte[] activationRow = KernelTestData.QuantizeActivations(type, activations);
        float dot = Quantizer.Dot(type, weightRow, activationRow, length, SimdLevel.Vector256);
        Assert.Equal($"0x{expectedBits:X8}", $"0x{BitConverter.SingleToUInt32Bits(dot):X8}");
    }

    /// <summary>Random block bytes with each block's fp16 d (and Q2_K's dmin) set to a random value in [0.001, 0.011).</summary>
    internal static byte[] RandomKQuantRow(GgmlType type, int length)
    {
        var random = new Random(length * 100 + (int)type);
        var row = new byte[GgmlTypeInfo.RowBytes(type, length)];
        random.NextBytes(row);
        int blockBytes = GgmlTypeInfo.BlockBytes(type);
        int[] halfOffsets = type == GgmlType.Q2_K ? [Q2_KFormat.ScaleOffset, Q2_KFormat.MinScaleOffset] : [Q3_KFormat.ScaleOffset];
        for (int b = 0; b < length / 256; b++)
        {
            foreach (int offset in halfOffsets)
            {
                ushort bits = BitConverter.HalfToUInt16Bits((Half)(0.001 + 0.01 * random.NextDouble()));
                BitConverter.TryWriteBytes(row.AsSpan(b * blockBytes + offset, 2), bits);
            }
        }
        return row;
    }
}
