using System.Runtime.Intrinsics.X86;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public unsafe class ConvertedRowDotsTests
{
    // 37 rows: two groups of sixteen (four of eight) and five one by one. Columns: whole 64-column steps only (64,
    // 128), leftovers only at 512 bits (40), and both (100, 170); with the rows column by column given or not.
    [SkippableTheory]
    [InlineData(64, false)]
    [InlineData(128, false)]
    [InlineData(40, false)]
    [InlineData(100, false)]
    [InlineData(170, false)]
    [InlineData(40, true)]
    [InlineData(100, true)]
    [InlineData(170, true)]
    public void Every_dot_equals_the_converted_row_dot_bit_for_bit(int columns, bool byColumn)
    {
        Skip.IfNot(Avx512F.IsSupported, "This CPU does not run AVX-512.");
        Check(columns, byColumn, wide: true);
    }

    [SkippableTheory]
    [InlineData(64, false)]
    [InlineData(20, false)]
    [InlineData(100, false)]
    [InlineData(20, true)]
    [InlineData(100, true)]
    [InlineData(170, true)]
    public void Every_dot_at_256_bits_equals_the_converted_row_dot_bit_for_bit(int columns, bool byColumn)
    {
        Skip.IfNot(Avx2.IsSupported && Fma.IsSupported, "This CPU does not run AVX2 with FMA.");
        Check(columns, byColumn, wide: false);
    }

    private static void Check(int columns, bool byColumn, bool wide)
    {
        const int count = 37;
        const int rowStride = 173; // rows apart by more than their width, as attention's blocks may be
        float[] rows = KernelTestData.RandomFloats(count * rowStride, seed: columns, scale: 3f);
        float[] shared = KernelTestData.RandomFloats(columns, seed: 11, scale: 0.7f);
        rows[2 * rowStride + columns - 1] = float.PositiveInfinity; // in row 2's last column (a leftover where any)
        var columnsOfRows = new float[columns * count];
        for (int i = 0; i < count; i++)
        {
            for (int c = 0; c < columns; c++)
            {
                columnsOfRows[c * count + i] = rows[i * rowStride + c];
            }
        }
        var y = new float[count];
        var scratch = new float[ConvertedRowDots.ScratchFloats];
        fixed (float* r = rows)
        fixed (float* s = shared)
        fixed (float* byColumns = columnsOfRows)
        fixed (float* output = y)
        fixed (float* sums = scratch)
        {
            if (wide)
            {
                ConvertedRowDots.Rows512(r, rowStride, s, columns, count, output, sums, byColumn ? byColumns : null);
            }
            else
            {
                ConvertedRowDots.Rows256(r, rowStride, s, columns, count, output, sums, byColumn ? byColumns : null);
            }
            for (int i = 0; i < count; i++)
            {
                float expected = wide
                    ? F16Format.DotConvertedVector512(r + i * rowStride, s, columns)
                    : F16Format.DotConvertedVector256(r + i * rowStride, s, columns);
                Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(y[i]),
                    $"{(wide ? 512 : 256)} bits, {columns} columns, row {i}: {y[i]:R} vs {expected:R}");
            }
        }
    }
}
