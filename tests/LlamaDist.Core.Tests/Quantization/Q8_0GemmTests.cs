using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>
/// Q8_0 in groups of eight rows (<see cref="Q8_0Gemm"/>, AVX-VNNI): the reference that defines the kernels stays
/// within float rounding of the row dot; every panel, chunk, group and token remainder of a file-layout batch equals
/// that reference bit for bit (groups with an Inf scale: the row dot), directly and through the engine's matrix
/// pass on one and two threads; a regrouped matrix gives the reference for one token and for batches; Inf scales
/// are never regrouped; a one-token product on file-layout rows is still the row dot. Skips, with the reason, where
/// the CPU lacks AVX-VNNI (batches then take the row-dot tiles, and regrouped matrices are refused).
/// </summary>
public unsafe class Q8_0GemmTests
{
    [Theory]
    [InlineData(32)]
    [InlineData(2048)]
    [InlineData(5632)]
    public void The_reference_differs_from_the_row_dot_by_float_rounding_only(int columns)
    {
        const int rows = 10;
        byte[] matrix = KernelTestData.QuantizedMatrix(GgmlType.Q8_0, rows, columns, seed: 15);
        float[] x = KernelTestData.RandomFloats(columns, seed: 16, scale: 2f);
        byte[] activations = KernelTestData.QuantizeActivations(GgmlType.Q8_0, x);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q8_0, columns);
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<byte> row = matrix.AsSpan(r * rowBytes, rowBytes);
            float exact = Q8_0Gemm.Reference(row, activations, columns / 32);
            float rowDot = Quantizer.Dot(GgmlType.Q8_0, row, activations, columns);
            // Both add the same columns / 32 scaled block sums, in different orders: a few ulps of their magnitude.
            double magnitude = 0;
            for (int b = 0; b < columns / 32; b++)
            {
                float scale = F16Format.ToSingle(BitConverter.ToUInt16(row[(b * 34)..])) *
                    F16Format.ToSingle(BitConverter.ToUInt16(activations.AsSpan(b * 34)));
                int sum = 0;
                for (int e = 0; e < 32; e++)
                {
                    sum += Math.Abs((sbyte)row[b * 34 + 2 + e] * (sbyte)activations[b * 34 + 2 + e]);
                }
                magnitude += Math.Abs(scale) * sum;
            }
            Assert.True(Math.Abs(exact - rowDot) <= 1e-6 * magnitude * Math.Max(1, columns / 32),
                $"row {r}: reference {exact:R}, row dot {rowDot:R}, magnitude {magnitude}");
            Assert.True(Math.Abs(rowDot) > 0, "the test data gives non-zero products");
        }
    }

    [SkippableTheory]
    // 1184 columns = 37 blocks: two whole chunks and a partial one; 70 tokens: a second token panel, with a
    // remainder after the four-token kernel. 32000 columns: one 8-row group per panel, so 21 rows make three
    // panels. 21 rows end a group unevenly, and the range starts mid-matrix (row 3).
    [InlineData(1184, 70)]
    [InlineData(32000, 5)]
    public void Every_panel_chunk_and_remainder_equals_the_reference_bit_for_bit(int columns, int tokens)
    {
        Skip.IfNot(Q8_0Gemm.IsSupported, "This CPU lacks AVX-VNNI (or AVX2 + FMA): Q8_0 batches take the row-dot tiles.");
        const int rows = 21, start = 3;
        byte[] matrix = KernelTestData.QuantizedMatrix(GgmlType.Q8_0, rows, columns, seed: 21);
        matrix[5 * (columns / 32 * 34) + 34 * 2 + 1] = 0x7C; // row 5, block 2: scale +Inf (carried, as the row dot does)
        matrix[5 * (columns / 32 * 34) + 34 * 2] = 0x00;
        float[] x = KernelTestData.RandomFloats(tokens * columns, seed: 22, scale: 1.5f);
        int extRowBytes = Q8TileKernels.ExtRowBytes(columns);
        var extended = new byte[tokens * extRowBytes];
        var y = new float[tokens * rows];
        Array.Fill(y, -7f);
        fixed (byte* data = matrix)
        fixed (float* source = x)
        fixed (byte* activations = extended)
        fixed (float* output = y)
        {
            for (int t = 0; t < tokens; t++)
            {
                Q8TileKernels.QuantizeRow(source + t * columns, activations + t * extRowBytes, columns, withCorrection: true);
            }
            Q8_0Gemm.Rows(data, columns / 32 * 34, rows, columns / 32, activations, extRowBytes, tokens, output, start, rows);
        }
        for (int t = 0; t < tokens; t++)
        {
            for (int r = 0; r < start; r++)
            {
                Assert.Equal(-7f, y[t * rows + r]); // outside the range
            }
        }
        // Rows 3..10 form the panel's first group, which holds row 5's Inf scale: the row dot; the rest: the reference.
        int rowBytes = columns / 32 * 34;
        for (int t = 0; t < tokens; t++)
        {
            byte[] activation = KernelTestData.QuantizeActivations(GgmlType.Q8_0, x.AsSpan(t * columns, columns));
            for (int r = start; r < start + 8; r++)
            {
                AssertSameFloat(Quantizer.Dot(GgmlType.Q8_0, matrix.AsSpan(r * rowBytes, rowBytes), activation, columns),
                    y[t * rows + r], $"row {r}, token {t} (row dot)");
            }
        }
        Assert.True(float.IsInfinity(y[5]) || float.IsNaN(y[5]), $"row 5 carries its Inf scale: {y[5]}");
        AssertReference(matrix, rows, columns, x, tokens, y, start + 8);
    }

    // 2, 4, 9 and 16 tokens: the streamed groups (fours and a remainder); 17 and 70: the panels.
    public static IEnumerable<object[]> RegroupedCases() => RowGroupTestSupport.Cases([32, 1184, 5632], [1, 2, 4, 9, Q8_0Gemm.StreamedBatchTokens, Q8_0Gemm.StreamedBatchTokens + 1, 70]);

    [SkippableTheory]
    [MemberData(nameof(RegroupedCases))]
    public void A_regrouped_matrix_gives_the_reference_values_for_one_token_and_for_batches(int columns, int tokens, int threadCount)
    {
        Skip.IfNot(Q8_0Gemm.IsSupported, "This CPU lacks AVX-VNNI (or AVX2 + FMA): Q8_0 matrices are not regrouped.");
        RowGroupTestSupport.AssertRegroupedMatMulGivesReference(GgmlType.Q8_0, 24, columns, tokens, threadCount);
    }

    [Fact]
    public void A_matrix_with_an_infinite_scale_is_not_regrouped()
    {
        const int rows = 16, columns = 64;
        byte[] matrix = KernelTestData.QuantizedMatrix(GgmlType.Q8_0, rows, columns, seed: 51);
        matrix[9 * 68 + 34 + 1] = 0x7C; // row 9, block 1: +Inf
        matrix[9 * 68 + 34] = 0x00;
        byte[] before = (byte[])matrix.Clone();
        var scratch = new byte[8 * 68];
        fixed (byte* data = matrix)
        fixed (byte* scratchPointer = scratch)
        {
            Assert.False(Q8_0Gemm.TryRegroupInPlace(data, rows, columns / 32, scratchPointer));
        }
        Assert.Equal(before, matrix);
    }

    [SkippableTheory]
    [InlineData(1, 2)]
    [InlineData(2, 9)]
    [InlineData(2, 64)]
    public void The_matrix_pass_gives_the_reference_values_for_batches(int threadCount, int tokens)
    {
        Skip.IfNot(Q8_0Gemm.IsSupported, "This CPU lacks AVX-VNNI (or AVX2 + FMA): Q8_0 batches take the row-dot tiles.");
        const int rows = 40, columns = 2048;
        byte[] matrix = KernelTestData.QuantizedMatrix(GgmlType.Q8_0, rows, columns, seed: 31);
        float[] x = KernelTestData.RandomFloats(tokens * columns, seed: 32, scale: 2f);
        var y = new float[tokens * rows];
        using var threads = new ComputeThreads(threadCount);
        fixed (byte* data = matrix)
        {
            var weights = new WeightMatrix(data, GgmlType.Q8_0, rows, columns);
            Assert.Equal(MatrixPassKind.Q8_0Gemm, weights.Plan.Batch);
            MatrixKernels.MatMul(threads, weights, x, y, tokens);
        }
        AssertReference(matrix, rows, columns, x, tokens, y, 0);
    }

    [Fact]
    public void One_token_is_still_the_row_dot_bit_for_bit()
    {
        const int rows = 9, columns = 2048;
        byte[] matrix = KernelTestData.QuantizedMatrix(GgmlType.Q8_0, rows, columns, seed: 41);
        float[] x = KernelTestData.RandomFloats(columns, seed: 42, scale: 2f);
        var y = new float[rows];
        using var threads = new ComputeThreads(2);
        fixed (byte* data = matrix)
        {
            MatrixKernels.MatMul(threads, new WeightMatrix(data, GgmlType.Q8_0, rows, columns), x, y, 1);
        }
        byte[] activations = KernelTestData.QuantizeActivations(GgmlType.Q8_0, x);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q8_0, columns);
        for (int r = 0; r < rows; r++)
        {
            float rowDot = Quantizer.Dot(GgmlType.Q8_0, matrix.AsSpan(r * rowBytes, rowBytes), activations, columns);
            Assert.Equal(BitConverter.SingleToUInt32Bits(rowDot), BitConverter.SingleToUInt32Bits(y[r]));
        }
    }

    /// <summary>y[t * rows + r] equals <see cref="Q8_0Gemm.Reference"/> for rows from <paramref name="start"/>.</summary>
    private static void AssertReference(byte[] matrix, int rows, int columns, float[] x, int tokens, float[] y, int start)
    {
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q8_0, columns);
        for (int t = 0; t < tokens; t++)
        {
            byte[] activations = KernelTestData.QuantizeActivations(GgmlType.Q8_0, x.AsSpan(t * columns, columns));
            for (int r = start; r < rows; r++)
            {
                float expected = Q8_0Gemm.Reference(matrix.AsSpan(r * rowBytes, rowBytes), activations, columns / 32);
                AssertSameFloat(expected, y[t * rows + r], $"row {r}, token {t}");
            }
        }
    }

    private static void AssertSameFloat(float expected, float actual, string what) =>
        Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual) ||
            (float.IsNaN(expected) && float.IsNaN(actual)), $"{what}: expected {expected:R}, kernel {actual:R}");
}
