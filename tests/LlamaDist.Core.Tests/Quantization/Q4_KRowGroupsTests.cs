using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>
/// Q4_K in groups of eight rows: the reference that defines the kernel stays within float rounding of the row dot;
/// every product of a regrouped matrix (one token and batches, one and two threads) equals that reference bit for
/// bit; the layout puts each row's nibbles, scale words and super-block scales where the kernel reads them; and a
/// non-finite d or dmin is never regrouped.
/// </summary>
public unsafe class Q4_KRowGroupsTests
{
    [Theory]
    [InlineData(256)]
    [InlineData(2048)]
    [InlineData(5632)]
    public void The_reference_differs_from_the_row_dot_by_float_rounding_only(int columns)
    {
        const int rows = 10;
        byte[] matrix = KernelTestData.QuantizedMatrix(GgmlType.Q4_K, rows, columns, seed: 3);
        float[] x = KernelTestData.RandomFloats(columns, seed: 4, scale: 2f);
        byte[] activations = KernelTestData.QuantizeActivations(GgmlType.Q4_K, x);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q4_K, columns);
        float[] dequantizedActivations = KernelTestData.Dequantize(GgmlType.Q8_K, activations, columns);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<byte> row = matrix.AsSpan(r * rowBytes, rowBytes);
            float exact = Q4_KRowGroups.Reference(row, activations, columns / 256);
            float rowDot = Quantizer.Dot(GgmlType.Q4_K, row, activations, columns);
            // Both sum the same exact integer products per block in float, in different orders: bounded by the
            // float rounding of the terms' absolute sum.
            (_, double absoluteSum) = KernelTestData.ExactDot(KernelTestData.Dequantize(GgmlType.Q4_K, row, columns), dequantizedActivations);
            Assert.True(Math.Abs(exact - rowDot) <= KernelTestData.SummationTolerance(columns, absoluteSum),
                $"row {r}: reference {exact:R}, row dot {rowDot:R}, absolute sum {absoluteSum}");
        }
    }

    public static IEnumerable<object[]> RegroupedCases() => RowGroupTestSupport.Cases([256, 2048, 5632], [1, 3, 5]);

    [Theory]
    [MemberData(nameof(RegroupedCases))]
    public void A_regrouped_matrix_gives_the_reference_values(int columns, int tokens, int threadCount) =>
        RowGroupTestSupport.AssertRegroupedMatMulGivesReference(GgmlType.Q4_K, 24, columns, tokens, threadCount);

    [Fact]
    public void Regrouping_puts_nibbles_scale_words_and_scales_where_the_kernel_reads_them()
    {
        const int columns = 512, rows = 8, blocks = columns / 256;
        byte[] matrix = KernelTestData.QuantizedMatrix(GgmlType.Q4_K, rows, columns, seed: 5);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q4_K, columns);
        Assert.Equal(8L * rowBytes, Q4_KRowGroups.GroupBytes(blocks));
        byte[] grouped = RowGroupTestSupport.Regrouped(GgmlType.Q4_K, matrix, rows, columns);
        for (int b = 0; b < blocks; b++)
        {
            int groupBlock = b * Q4_KRowGroups.GroupBlockBytes;
            for (int r = 0; r < rows; r++)
            {
                int block = r * rowBytes + b * Q4_KFormat.BlockBytes;
                for (int e = 0; e < 256; e++)
                {
                    int j = e / 32, within = e % 32;
                    byte quant = matrix[block + Q4_KFormat.QuantsOffset + 32 * (j / 2) + within];
                    int expected = j % 2 == 0 ? quant & 0x0F : quant >> 4;
                    byte packed = grouped[groupBlock + j * 128 + (within / 8) * 32 + r * 4 + within % 4];
                    Assert.Equal(expected, within % 8 < 4 ? packed & 0x0F : packed >> 4);
                }
                for (int w = 0; w < 3; w++)
                {
                    Assert.Equal(BitConverter.ToUInt32(matrix, block + Q4_KFormat.ScalesOffset + 4 * w),
                        BitConverter.ToUInt32(grouped, groupBlock + 1024 + 32 * w + 4 * r));
                }
                Assert.Equal(BitConverter.ToUInt16(matrix, block), BitConverter.ToUInt16(grouped, groupBlock + 1120 + 2 * r));
                Assert.Equal(BitConverter.ToUInt16(matrix, block + 2), BitConverter.ToUInt16(grouped, groupBlock + 1136 + 2 * r));
            }
        }
    }

    [Fact]
    public void A_matrix_with_a_non_finite_dmin_is_not_regrouped()
    {
        const int columns = 256, rows = 8;
        byte[] matrix = KernelTestData.QuantizedMatrix(GgmlType.Q4_K, rows, columns, seed: 6);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q4_K, columns);
        BitConverter.TryWriteBytes(matrix.AsSpan(5 * rowBytes + 2), (ushort)0x7E00); // NaN dmin
        byte[] before = (byte[])matrix.Clone();
        var scratch = new byte[Q4_KRowGroups.GroupBytes(columns / 256)];
        fixed (byte* data = matrix)
        fixed (byte* scratchPointer = scratch)
        {
            Assert.False(Q4_KRowGroups.TryRegroupInPlace(data, rows, columns / 256, scratchPointer));
        }
        Assert.Equal(before, matrix);
    }
}
