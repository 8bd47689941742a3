using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>
/// MatMul2 / MatMul3 (one input conversion, one parallel pass over several matrices) and the Q4_0 / Q8_0 tile
/// kernels: every output must equal its own MatMul, and every batch element the public row dot, bit for bit.
/// </summary>
public unsafe class FusedMatMulTests
{
    private const int Columns = 320;

    public static IEnumerable<object[]> Cases()
    {
        foreach (GgmlType type in KernelTestData.SupportedTypes)
        {
            foreach (int tokens in new[] { 1, 4, 9 })
            {
                yield return [type, tokens];
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void FusedProductsEqualSeparateProducts(GgmlType type, int tokens)
    {
        int[] rows = [36, 12, 21]; // an odd count too: pairs of rows are not always possible
        byte[][] matrices = rows.Select((r, i) => KernelTestData.QuantizedMatrix(type, r, Columns, 100 * (i + 1))).ToArray();
        float[] x = KernelTestData.RandomFloats(tokens * Columns, seed: 5, scale: 2f);
        using var threads = new ComputeThreads(2);
        fixed (byte* m0 = matrices[0])
        fixed (byte* m1 = matrices[1])
        fixed (byte* m2 = matrices[2])
        {
            var w0 = new WeightMatrix(m0, type, rows[0], Columns);
            var w1 = new WeightMatrix(m1, type, rows[1], Columns);
            var w2 = new WeightMatrix(m2, type, rows[2], Columns);
            float[][] expected = [new float[tokens * rows[0]], new float[tokens * rows[1]], new float[tokens * rows[2]]];
            MatrixKernels.MatMul(threads, w0, x, expected[0], tokens);
            MatrixKernels.MatMul(threads, w1, x, expected[1], tokens);
            MatrixKernels.MatMul(threads, w2, x, expected[2], tokens);

            float[][] three = [new float[tokens * rows[0]], new float[tokens * rows[1]], new float[tokens * rows[2]]];
            MatrixKernels.MatMul3(threads, x, tokens, w0, three[0], w1, three[1], w2, three[2]);
            for (int i = 0; i < 3; i++)
            {
                Assert.Equal(expected[i], three[i]);
            }

            float[][] two = [new float[tokens * rows[0]], new float[tokens * rows[1]]];
            MatrixKernels.MatMul2(threads, x, tokens, w0, two[0], w1, two[1]);
            Assert.Equal(expected[0], two[0]);
            Assert.Equal(expected[1], two[1]);
        }
    }

    [Fact]
    public void MixedTypesFallBackToSeparateProducts()
    {
        byte[] a = KernelTestData.QuantizedMatrix(GgmlType.Q4_0, 8, Columns, 1);
        byte[] b = KernelTestData.QuantizedMatrix(GgmlType.Q8_0, 6, Columns, 2);
        byte[] c = KernelTestData.QuantizedMatrix(GgmlType.Q4_0, 4, Columns, 3);
        float[] x = KernelTestData.RandomFloats(2 * Columns, seed: 9, scale: 1f);
        using var threads = new ComputeThreads(2);
        fixed (byte* pa = a)
        fixed (byte* pb = b)
        fixed (byte* pc = c)
        {
            var wa = new WeightMatrix(pa, GgmlType.Q4_0, 8, Columns);
            var wb = new WeightMatrix(pb, GgmlType.Q8_0, 6, Columns);
            var wc = new WeightMatrix(pc, GgmlType.Q4_0, 4, Columns);
            float[] ea = new float[16], eb = new float[12], ec = new float[8];
            MatrixKernels.MatMul(threads, wa, x, ea, 2);
            MatrixKernels.MatMul(threads, wb, x, eb, 2);
            MatrixKernels.MatMul(threads, wc, x, ec, 2);
            float[] ya = new float[16], yb = new float[12], yc = new float[8];
            MatrixKernels.MatMul3(threads, x, 2, wa, ya, wb, yb, wc, yc);
            Assert.Equal(ea, ya);
            Assert.Equal(eb, yb);
            Assert.Equal(ec, yc);
        }
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q8_0)]
    public void BatchElementsEqualTheirReferenceBitForBit(GgmlType type)
    {
        // 13 tokens: three groups of four plus one, at 2048 columns (TinyLlama's width).
        const int rows = 10, columns = 2048, tokens = 13;
        byte[] matrix = KernelTestData.QuantizedMatrix(type, rows, columns, 7);
        float[] x = KernelTestData.RandomFloats(tokens * columns, seed: 11, scale: 3f);
        var y = new float[tokens * rows];
        using var threads = new ComputeThreads(2);
        fixed (byte* data = matrix)
        {
            MatrixKernels.MatMul(threads, new WeightMatrix(data, type, rows, columns), x, y, tokens);
        }
        long rowBytes = GgmlTypeInfo.RowBytes(type, columns);
        for (int t = 0; t < tokens; t++)
        {
            byte[] activations = KernelTestData.QuantizeActivations(type, x.AsSpan(t * columns, columns));
            for (int r = 0; r < rows; r++)
            {
                // Q4_0 batches, and Q8_0 batches with AVX-VNNI, sum each block exactly (Q4_0RowGroups / Q8_0Gemm
                // .Reference); Q8_0 without it: the public row dot.
                ReadOnlySpan<byte> row = matrix.AsSpan((int)(r * rowBytes), (int)rowBytes);
                float expected = type == GgmlType.Q4_0 ? Q4_0RowGroups.Reference(row, activations, columns / 32)
                    : Q8_0Gemm.IsSupported ? Q8_0Gemm.Reference(row, activations, columns / 32)
                    : Quantizer.Dot(type, row, activations, columns);
                Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(y[t * rows + r]));
            }
        }
    }
}
