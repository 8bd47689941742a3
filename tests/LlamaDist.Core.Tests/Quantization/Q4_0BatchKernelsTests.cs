using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>
/// Q4_0 batches sum each block exactly for eight rows at once: the reference that defines them stays within float
/// rounding of the row dot, rows too wide for the stack run from native scratch, and a one-token product (decoding)
/// still is the row dot bit for bit.
/// </summary>
public unsafe class Q4_0BatchKernelsTests
{
    [Theory]
    [InlineData(32)]
    [InlineData(2048)]
    [InlineData(5632)]
    public void The_reference_differs_from_the_row_dot_by_float_rounding_only(int columns)
    {
        const int rows = 12;
        byte[] matrix = KernelTestData.QuantizedMatrix(GgmlType.Q4_0, rows, columns, seed: 5);
        float[] x = KernelTestData.RandomFloats(columns, seed: 6, scale: 2f);
        byte[] activations = KernelTestData.QuantizeActivations(GgmlType.Q4_0, x);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q4_0, columns);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<byte> row = matrix.AsSpan(r * rowBytes, rowBytes);
            float exact = Q4_0BatchKernels.Reference(row, activations, columns / 32);
            float rowDot = Quantizer.Dot(GgmlType.Q4_0, row, activations, columns);
            // Both add the same columns / 32 scaled block sums, in different orders: a few ulps of their magnitude.
            float magnitude = MagnitudeOfTerms(row, activations, columns / 32);
            Assert.True(Math.Abs(exact - rowDot) <= 1e-6f * magnitude * columns / 32,
                $"row {r}: reference {exact:R}, row dot {rowDot:R}, magnitude {magnitude}");
        }
    }

    [Fact]
    public void Rows_too_wide_for_the_stack_give_the_reference_values()
    {
        // 9216 columns = 288 blocks: 81 KB packed per eight rows, more than the stack scratch allows.
        const int rows = 11, columns = 9216, tokens = 5;
        byte[] matrix = KernelTestData.QuantizedMatrix(GgmlType.Q4_0, rows, columns, seed: 8);
        float[] x = KernelTestData.RandomFloats(tokens * columns, seed: 9, scale: 1.5f);
        var y = new float[tokens * rows];
        using var threads = new ComputeThreads(2);
        fixed (byte* data = matrix)
        {
            MatrixKernels.MatMul(threads, new WeightMatrix(data, GgmlType.Q4_0, rows, columns), x, y, tokens);
        }
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q4_0, columns);
        for (int t = 0; t < tokens; t++)
        {
            byte[] activations = KernelTestData.QuantizeActivations(GgmlType.Q4_0, x.AsSpan(t * columns, columns));
            for (int r = 0; r < rows; r++)
            {
                float expected = Q4_0BatchKernels.Reference(matrix.AsSpan(r * rowBytes, rowBytes), activations, columns / 32);
                Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(y[t * rows + r]));
            }
        }
    }

    [Fact]
    public void One_token_is_still_the_row_dot_bit_for_bit()
    {
        const int rows = 9, columns = 2048;
        byte[] matrix = KernelTestData.QuantizedMatrix(GgmlType.Q4_0, rows, columns, seed: 12);
        float[] x = KernelTestData.RandomFloats(columns, seed: 13, scale: 2f);
        var y = new float[rows];
        using var threads = new ComputeThreads(2);
        fixed (byte* data = matrix)
        {
            MatrixKernels.MatMul(threads, new WeightMatrix(data, GgmlType.Q4_0, rows, columns), x, y, 1);
        }
        byte[] activations = KernelTestData.QuantizeActivations(GgmlType.Q4_0, x);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q4_0, columns);
        for (int r = 0; r < rows; r++)
        {
            float rowDot = Quantizer.Dot(GgmlType.Q4_0, matrix.AsSpan(r * rowBytes, rowBytes), activations, columns);
            Assert.Equal(BitConverter.SingleToUInt32Bits(rowDot), BitConverter.SingleToUInt32Bits(y[r]));
        }
    }

    [Fact]
    public void Packing_puts_four_elements_of_each_row_in_its_lane_and_zeros_in_missing_rows()
    {
        const int columns = 64, rows = 3;
        byte[] matrix = KernelTestData.QuantizedMatrix(GgmlType.Q4_0, rows, columns, seed: 4);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q4_0, columns);
        var packed = new byte[2 * Q4_0BatchKernels.PackedBlockBytes];
        fixed (byte* source = matrix)
        fixed (byte* destination = packed)
        {
            Q4_0BatchKernels.Pack(source, rowBytes, rows, columns / 32, destination);
        }
        for (int b = 0; b < 2; b++)
        {
            for (int r = 0; r < 8; r++)
            {
                for (int e = 0; e < 32; e++)
                {
                    int expected = 0;
                    if (r < rows)
                    {
                        byte packedByte = matrix[r * rowBytes + b * Q4_0Format.BlockBytes + 2 + (e & 15)];
                        expected = e < 16 ? packedByte & 0x0F : packedByte >> 4;
                    }
                    Assert.Equal(expected, packed[b * Q4_0BatchKernels.PackedBlockBytes + (e / 4) * 32 + r * 4 + e % 4]);
                }
                float scale = BitConverter.ToSingle(packed, b * Q4_0BatchKernels.PackedBlockBytes + 256 + r * 4);
                float expectedScale = r < rows
                    ? F16Format.ToSingle(BitConverter.ToUInt16(matrix, r * rowBytes + b * Q4_0Format.BlockBytes))
                    : 0f;
                Assert.Equal(expectedScale, scale);
            }
        }
    }

    /// <summary>Sum over blocks of |d_w * d_x * exact block sum|: the size rounding errors scale with.</summary>
    private static float MagnitudeOfTerms(ReadOnlySpan<byte> row, ReadOnlySpan<byte> activations, int blocks)
    {
        float total = 0f;
        for (int b = 0; b < blocks; b++)
        {
            total += Math.Abs(Q4_0BatchKernels.Reference(row.Slice(b * Q4_0Format.BlockBytes, Q4_0Format.BlockBytes),
                activations.Slice(b * Q8_0Format.BlockBytes, Q8_0Format.BlockBytes), 1));
        }
        return total;
    }
}
