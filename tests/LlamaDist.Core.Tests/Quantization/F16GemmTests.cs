using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public unsafe class F16GemmTests
{
    public static IEnumerable<object[]> Levels() =>
        new[] { SimdLevel.Vector256, SimdLevel.Vector512 }.Select(level => new object[] { level });

    [SkippableTheory]
    [MemberData(nameof(Levels))]
    public void Every_tile_and_remainder_equals_the_one_accumulator_reference_bit_for_bit(SimdLevel level)
    {
        Skip.IfNot(SimdCapabilities.IsSupported(level), $"This CPU does not run {level}.");
        // 24576 columns take the smallest tile (48 rows) and 48 column chunks, so 101 rows are tiles of 48, 48 and 5;
        // 320 puts every block in one tile and is one partial chunk; 1072 is two whole chunks and a partial one, in
        // tiles of 60 rows (the budget), so 121 rows end in a tile of one. 13 rows end a block unevenly (validRows 1).
        // Token counts: 7 and 13 leave a single after the 6-token groups (and the 3-token ones at 256 bits), 61 a
        // second token panel of 13; 14 leaves a pair, 9 a pair and a single; 32 (and 128's last panel of 32) runs two
        // 6-token groups and four 5-token ones, 65's last panel of 17 two and one. 37 and 40 rows reach the sums taken
        // sixteen and eight rows at a time (36 and 39 rows in range: two sixteens or four eights, then rows one by
        // one). A range that starts mid-matrix checks the addressing.
        foreach ((int columns, int tokens, int rows) in new[]
        {
            (320, 13, 13), (1072, 61, 13), (24576, 7, 101), (1072, 13, 121), (320, 14, 13), (1072, 65, 13),
            (1072, 13, 37), (320, 7, 40), (320, 32, 13), (1072, 128, 13), (320, 9, 13),
        })
        {
            float[] values = KernelTestData.RandomFloats(rows * columns, seed: columns, scale: 0.5f);
            values[5 * columns + 17] = float.PositiveInfinity; // exact conversion: Inf reaches its row's outputs
            values[7 * columns + 3] = float.NaN;
            values[9 * columns + columns - 3] = float.NegativeInfinity; // in the last 16 columns when not whole 32s
            values[2 * columns + 9] = 3e-6f;                   // a subnormal half
            values[3 * columns + 1] = -0f;
            byte[] matrix = KernelTestData.Quantize(GgmlType.F16, values);
            float[] activations = KernelTestData.RandomFloats(tokens * columns, seed: 9, scale: 2f)
                .Select(v => F16Format.ToSingle(F16Format.FromSingle(v))).ToArray();
            var y = new float[tokens * rows];
            Array.Fill(y, -7f);
            fixed (byte* w = matrix)
            fixed (float* x = activations)
            fixed (float* output = y)
            {
                long rowBytes = columns * 2;
                F16Gemm.Rows(level, w, rowBytes, rows, columns, x, tokens, output, 1, rows);
                for (int t = 0; t < tokens; t++)
                {
                    Assert.Equal(-7f, y[t * rows]); // row 0 is outside the range
                    for (int r = 1; r < rows; r++)
                    {
                        float expected = F16Gemm.ReferenceDot(level, w + r * rowBytes, x + t * columns, columns);
                        Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(y[t * rows + r]),
                            $"{level} {columns} columns, token {t} row {r}: {y[t * rows + r]:R} vs {expected:R}");
                    }
                }
            }
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Levels))]
    public void The_reference_is_the_exact_dot_within_float_summation_error(SimdLevel level)
    {
        Skip.IfNot(SimdCapabilities.IsSupported(level), $"This CPU does not run {level}.");
        const int columns = 1024;
        float[] w = KernelTestData.RandomFloats(columns, seed: 4, scale: 1f);
        byte[] row = KernelTestData.Quantize(GgmlType.F16, w);
        float[] widened = KernelTestData.Dequantize(GgmlType.F16, row, columns);
        float[] x = KernelTestData.RandomFloats(columns, seed: 5, scale: 1f)
            .Select(v => F16Format.ToSingle(F16Format.FromSingle(v))).ToArray();
        fixed (byte* weights = row)
        fixed (float* activations = x)
        {
            float result = F16Gemm.ReferenceDot(level, weights, activations, columns);
            var (exact, absoluteSum) = KernelTestData.ExactDot(widened, x);
            Assert.True(Math.Abs(result - exact) <= KernelTestData.SummationTolerance(columns, absoluteSum),
                $"{result} vs {exact}");
        }
    }

    [Fact]
    public void Only_whole_vectors_per_row_run_the_gemm()
    {
        Assert.False(F16Gemm.Supports(SimdLevel.Scalar, 4096));
        Assert.False(F16Gemm.Supports(SimdLevel.Vector128, 4096));
        Assert.False(F16Gemm.Supports(SimdLevel.Vector512, 4104)); // 4104 = 16 x 256 + 8
        Assert.Equal(SimdCapabilities.IsSupported(SimdLevel.Vector256), F16Gemm.Supports(SimdLevel.Vector256, 4104));
    }
}
