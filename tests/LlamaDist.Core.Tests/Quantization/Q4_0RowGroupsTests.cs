using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>
/// Q4_0 in groups of eight rows: the reference that defines the kernels stays within float rounding of the row dot;
/// batches on file-layout rows and every product of a regrouped matrix (decoding included) equal that reference bit
/// for bit; the layout puts the right nibbles in each lane; Inf/NaN scales are never regrouped; and a one-token
/// product on file-layout rows is still the row dot bit for bit.
/// </summary>
public unsafe class Q4_0RowGroupsTests
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
            float exact = Q4_0RowGroups.Reference(row, activations, columns / 32);
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
        // 16416 columns = 513 blocks: 72.1 KB per packed group of eight rows, more than the stack scratch allows.
        const int rows = 11, columns = 16416, tokens = 5;
        byte[] matrix = KernelTestData.QuantizedMatrix(GgmlType.Q4_0, rows, columns, seed: 8);
        float[] x = KernelTestData.RandomFloats(tokens * columns, seed: 9, scale: 1.5f);
        var y = new float[tokens * rows];
        using var threads = new ComputeThreads(2);
        fixed (byte* data = matrix)
        {
            MatrixKernels.MatMul(threads, new WeightMatrix(data, GgmlType.Q4_0, rows, columns), x, y, tokens);
        }
        RowGroupTestSupport.AssertReference(GgmlType.Q4_0, matrix, rows, columns, x, tokens, y);
    }

    [Fact]
    public void One_token_on_file_rows_is_still_the_row_dot_bit_for_bit()
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

    public static IEnumerable<object[]> RegroupedCases() => RowGroupTestSupport.Cases([32, 320, 2048, 5632], [1, 2, 4, 7, 9]);

    [Theory]
    [MemberData(nameof(RegroupedCases))]
    public void A_regrouped_matrix_gives_the_reference_values_for_one_token_and_for_batches(int columns, int tokens, int threadCount) =>
        RowGroupTestSupport.AssertRegroupedMatMulGivesReference(GgmlType.Q4_0, 40, columns, tokens, threadCount);

    [Theory]
    [InlineData(320, 1)]
    [InlineData(320, 2)]
    [InlineData(2048, 2)]
    public void Decoding_a_regrouped_matrix_two_groups_at_a_time_gives_the_reference_values(int columns, int threadCount) =>
        // 41 groups: each thread's ranges hold several groups, so decoding pairs groups far apart
        // (Q4_0RowGroups.Dot8x1Pair) and runs an odd one alone.
        RowGroupTestSupport.AssertRegroupedMatMulGivesReference(GgmlType.Q4_0, 41 * 8, columns, tokens: 1, threadCount);

    [SkippableTheory]
    [InlineData(1)]
    [InlineData(6)]
    public void Regrouped_and_file_layout_matrices_fuse_only_with_their_own_layout(int tokens)
    {
        Skip.IfNot(Q4_0RowGroups.IsSupported, "This CPU has no regrouped Q4_0 kernels (products are refused there; see the test above).");
        const int columns = 256;
        int[] rows = [32, 16, 24];
        byte[][] matrices = rows.Select((r, i) => KernelTestData.QuantizedMatrix(GgmlType.Q4_0, r, columns, 30 + i)).ToArray();
        byte[] grouped0 = RowGroupTestSupport.Regrouped(GgmlType.Q4_0, matrices[0], rows[0], columns);
        byte[] grouped1 = RowGroupTestSupport.Regrouped(GgmlType.Q4_0, matrices[1], rows[1], columns);
        float[] x = KernelTestData.RandomFloats(tokens * columns, seed: 33, scale: 2f);
        using var threads = new ComputeThreads(2);
        fixed (byte* g0 = grouped0)
        fixed (byte* g1 = grouped1)
        fixed (byte* m2 = matrices[2])
        {
            var w0 = new WeightMatrix(g0, GgmlType.Q4_0, rows[0], columns, WeightLayout.Q4_0RowGroups);
            var w1 = new WeightMatrix(g1, GgmlType.Q4_0, rows[1], columns, WeightLayout.Q4_0RowGroups);
            var w2 = new WeightMatrix(m2, GgmlType.Q4_0, rows[2], columns);
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
            RowGroupTestSupport.AssertReference(GgmlType.Q4_0, matrices[0], rows[0], columns, x, tokens, three[0]);
            RowGroupTestSupport.AssertReference(GgmlType.Q4_0, matrices[1], rows[1], columns, x, tokens, three[1]);
        }
    }

    [Fact]
    public void Regrouping_puts_eight_elements_of_each_row_in_its_lane_and_keeps_the_size()
    {
        const int columns = 64, rows = 16, blocks = columns / 32;
        byte[] matrix = KernelTestData.QuantizedMatrix(GgmlType.Q4_0, rows, columns, seed: 4);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q4_0, columns);
        Assert.Equal(8L * rowBytes, Q4_0RowGroups.GroupBytes(blocks));
        byte[] grouped = RowGroupTestSupport.Regrouped(GgmlType.Q4_0, matrix, rows, columns);
        Assert.Equal(matrix.Length, grouped.Length);
        for (int group = 0; group < rows / 8; group++)
        {
            int groupStart = group * 8 * rowBytes;
            for (int b = 0; b < blocks; b++)
            {
                for (int r = 0; r < 8; r++)
                {
                    int block = (group * 8 + r) * rowBytes + b * Q4_0Format.BlockBytes;
                    for (int e = 0; e < 32; e++)
                    {
                        byte quant = matrix[block + 2 + (e & 15)];
                        int expected = e < 16 ? quant & 0x0F : quant >> 4;
                        // Element e sits in vector e / 8, lane r, byte e % 4, low nibble for e % 8 < 4.
                        byte packed = grouped[groupStart + b * 128 + (e / 8) * 32 + r * 4 + e % 4];
                        Assert.Equal(expected, e % 8 < 4 ? packed & 0x0F : packed >> 4);
                    }
                    ushort scale = BitConverter.ToUInt16(grouped, groupStart + blocks * 128 + (b * 8 + r) * 2);
                    Assert.Equal(BitConverter.ToUInt16(matrix, block), scale);
                }
            }
        }
    }

    [SkippableFact]
    public void The_shuffled_lanes_equal_the_scalar_lanes()
    {
        Skip.IfNot(System.Runtime.Intrinsics.X86.Ssse3.IsSupported, "This CPU has no SSSE3 byte shuffles: only the scalar lanes exist here.");
        var random = new Random(17);
        var nibbles = new byte[16];
        for (int trial = 0; trial < 200; trial++)
        {
            for (int i = 0; i < nibbles.Length; i++)
            {
                nibbles[i] = (byte)random.Next(16);
            }
            fixed (byte* n = nibbles)
            {
                ulong pair = RowGroupVectors.TwoLanes(System.Runtime.Intrinsics.Vector128.Load(n))[0];
                Assert.Equal(RowGroupVectors.Lane(n, 0, 0), (uint)pair);
                Assert.Equal(RowGroupVectors.Lane(n, 1, 0), (uint)(pair >> 32));
            }
        }
    }

    [Fact]
    public void A_matrix_with_an_infinite_scale_is_not_regrouped_and_batches_carry_the_infinity()
    {
        const int rows = 8, columns = 64, tokens = 4;
        byte[] matrix = KernelTestData.QuantizedMatrix(GgmlType.Q4_0, rows, columns, seed: 14);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q4_0, columns);
        BitConverter.TryWriteBytes(matrix.AsSpan(3 * rowBytes + Q4_0Format.BlockBytes), (ushort)0x7C00); // +Inf
        byte[] before = (byte[])matrix.Clone();
        var scratch = new byte[Q4_0RowGroups.GroupBytes(columns / 32)];
        fixed (byte* data = matrix)
        fixed (byte* scratchPointer = scratch)
        {
            Assert.False(Q4_0RowGroups.TryRegroupInPlace(data, rows, columns / 32, scratchPointer));
        }
        Assert.Equal(before, matrix);

        float[] x = KernelTestData.RandomFloats(tokens * columns, seed: 15, scale: 2f);
        var y = new float[tokens * rows];
        using var threads = new ComputeThreads(1);
        fixed (byte* data = matrix)
        {
            MatrixKernels.MatMul(threads, new WeightMatrix(data, GgmlType.Q4_0, rows, columns), x, y, tokens);
        }
        for (int t = 0; t < tokens; t++)
        {
            byte[] activations = KernelTestData.QuantizeActivations(GgmlType.Q4_0, x.AsSpan(t * columns, columns));
            for (int r = 0; r < rows; r++)
            {
                float rowDot = Quantizer.Dot(GgmlType.Q4_0, matrix.AsSpan(r * rowBytes, rowBytes), activations, columns);
                Assert.Equal(BitConverter.SingleToUInt32Bits(rowDot), BitConverter.SingleToUInt32Bits(y[t * rows + r]));
            }
            Assert.False(float.IsFinite(y[t * rows + 3]));
        }
    }

    [Fact]
    public void A_regrouped_matrix_refuses_row_access_and_other_types_or_row_counts()
    {
        var bytes = new byte[16 * 18];
        fixed (byte* pinned = bytes)
        {
            byte* data = pinned;
            var grouped = new WeightMatrix(data, GgmlType.Q4_0, 8, 64, WeightLayout.Q4_0RowGroups);
            Assert.Equal(WeightLayout.Q4_0RowGroups, grouped.Layout);
            Assert.Throws<InvalidOperationException>(() => grouped.Row(0));
            Assert.Throws<ArgumentException>(() => new WeightMatrix(data, GgmlType.Q4_0, 12, 32, WeightLayout.Q4_0RowGroups));
            Assert.Throws<ArgumentException>(() => new WeightMatrix(data, GgmlType.Q8_0, 8, 32, WeightLayout.Q4_0RowGroups));
            Assert.Equal(WeightLayout.Rows, new WeightMatrix(data, GgmlType.Q4_0, 8, 64).Layout);
        }
    }

    /// <summary>Sum over blocks of |d_w * d_x * exact block sum|: the size rounding errors scale with.</summary>
    private static float MagnitudeOfTerms(ReadOnlySpan<byte> row, ReadOnlySpan<byte> activations, int blocks)
    {
        float total = 0f;
        for (int b = 0; b < blocks; b++)
        {
            total += Math.Abs(Q4_0RowGroups.Reference(row.Slice(b * Q4_0Format.BlockBytes, Q4_0Format.BlockBytes),
                activations.Slice(b * Q8_0Format.BlockBytes, Q8_0Format.BlockBytes), 1));
        }
        return total;
    }
}
