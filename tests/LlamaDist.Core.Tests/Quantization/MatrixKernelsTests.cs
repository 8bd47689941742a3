using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public unsafe class MatrixKernelsTests
{
    private const int Rows = 37;   // odd, so chunks and row tiles end unevenly
    private const int Columns = 320; // 10 blocks of 32: every vector width plus a tail
    private const int Tokens = 19;   // more than one token tile

    private sealed class Fixture
    {
        public required GgmlType Type { get; init; }
        public required byte[] Matrix { get; init; }
        public required float[][] WeightRows { get; init; } // dequantized
        public required float[] Activations { get; init; }  // [Tokens, Columns]
    }

    private static Fixture Build(GgmlType type, int rows = Rows, int columns = Columns, int tokens = Tokens)
    {
        long rowBytes = GgmlTypeInfo.RowBytes(type, columns);
        var matrix = new byte[rows * rowBytes];
        var weightRows = new float[rows][];
        for (int r = 0; r < rows; r++)
        {
            float[] row = KernelTestData.RandomFloats(columns, seed: 1000 + r, scale: 0.5f);
            Quantizer.QuantizeRow(type, row, matrix.AsSpan((int)(r * rowBytes), (int)rowBytes));
            weightRows[r] = KernelTestData.Dequantize(type, matrix.AsSpan((int)(r * rowBytes), (int)rowBytes), columns);
        }
        return new Fixture
        {
            Type = type,
            Matrix = matrix,
            WeightRows = weightRows,
            Activations = KernelTestData.RandomFloats(tokens * columns, seed: 77, scale: 2f),
        };
    }

    private static float[] Run(Fixture fixture, int threadCount, int tokens, int rows = Rows, int columns = Columns)
    {
        var y = new float[tokens * rows];
        using var threads = new ComputeThreads(threadCount);
        fixed (byte* data = fixture.Matrix)
        {
            var weights = new WeightMatrix(data, fixture.Type, rows, columns);
            if (tokens == 1)
            {
                MatrixKernels.MatVec(threads, weights, fixture.Activations.AsSpan(0, columns), y);
            }
            else
            {
                MatrixKernels.MatMul(threads, weights, fixture.Activations.AsSpan(0, tokens * columns), y, tokens);
            }
        }
        return y;
    }

    [Theory]
    [MemberData(nameof(KernelTestData.SupportedTypeData), MemberType = typeof(KernelTestData))]
    public void MatMulMatchesDequantizedReferenceOfConvertedActivations(GgmlType type)
    {
        // Tight check: the kernel equals dot(dequantized weights, dequantized converted activations) up to float
        // summation order, so conversion, row addressing and the output layout are all right.
        Fixture fixture = Build(type);
        float[] y = Run(fixture, threadCount: 2, tokens: Tokens);
        for (int t = 0; t < Tokens; t++)
        {
            ReadOnlySpan<float> x = fixture.Activations.AsSpan(t * Columns, Columns);
            float[] converted = KernelTestData.Dequantize(Quantizer.ActivationType(type),
                KernelTestData.QuantizeActivations(type, x), Columns);
            for (int r = 0; r < Rows; r++)
            {
                var (exact, absoluteSum) = KernelTestData.ExactDot(fixture.WeightRows[r], converted);
                double bound = KernelTestData.SummationTolerance(Columns, absoluteSum) +
                    LegacyQuantTestData.ScaledSumRounding(type, fixture.WeightRows[r], converted);
                Assert.True(Math.Abs(y[t * Rows + r] - exact) <= bound,
                    $"{type} token {t} row {r}: {y[t * Rows + r]} vs {exact}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(KernelTestData.SupportedTypeData), MemberType = typeof(KernelTestData))]
    public void MatMulMatchesNaiveFloatDotWithinTheActivationConversionError(GgmlType type)
    {
        // Loose check against dequantize-then-float-dot with the original activations. The tolerance is the
        // bound on the activation conversion error: F32 none, F16 2^-11 and BF16 2^-8 relative per element,
        // Q8_0 activations half a step (amax/254) plus the fp16 rounding of the scale.
        Fixture fixture = Build(type);
        float[] y = Run(fixture, threadCount: 3, tokens: Tokens);
        for (int t = 0; t < Tokens; t++)
        {
            float[] x = fixture.Activations.AsSpan(t * Columns, Columns).ToArray();
            for (int r = 0; r < Rows; r++)
            {
                float[] w = fixture.WeightRows[r];
                var (exact, absoluteSum) = KernelTestData.ExactDot(w, x);
                double bound = KernelTestData.SummationTolerance(Columns, absoluteSum);
                for (int i = 0; i < Columns; i++)
                {
                    bound += Math.Abs(w[i]) * ConversionError(type, x, i);
                }
                Assert.True(Math.Abs(y[t * Rows + r] - exact) <= bound,
                    $"{type} token {t} row {r}: {y[t * Rows + r]} vs {exact} (bound {bound})");
            }
        }
    }

    private static double ConversionError(GgmlType type, float[] x, int i)
    {
        switch (type)
        {
            case GgmlType.F32: return 0;
            case GgmlType.F16: return Math.Abs(x[i]) / 2048.0 + 6e-8;
            case GgmlType.BF16: return Math.Abs(x[i]) / 256.0;
            default:
                int block = i / 32 * 32;
                double amax = x.Skip(block).Take(32).Max(MathF.Abs);
                return amax / 254.0 + amax / 127.0 * 127.0 / 2048.0;
        }
    }

    [Theory]
    [MemberData(nameof(KernelTestData.SupportedTypeData), MemberType = typeof(KernelTestData))]
    public void ResultsAreIdenticalForOneTwoAndThreeThreadsAndForMatVec(GgmlType type)
    {
        Fixture fixture = Build(type);
        float[] single = Run(fixture, threadCount: 1, tokens: Tokens);
        Assert.Equal(single, Run(fixture, threadCount: 2, tokens: Tokens));
        Assert.Equal(single, Run(fixture, threadCount: 3, tokens: Tokens));
        // Token 0 of the batch equals a MatVec of token 0, bit for bit, except Q4_0 on AVX2 and Q8_0 with AVX-VNNI:
        // their batches sum each block exactly (Q4_0RowGroups, Q8_0Gemm), so they round differently from the row
        // dot a MatVec uses; and F16 on
        // AVX2 / AVX-512, whose batches run F16Gemm (one accumulator per output, llamafile_sgemm's order).
        float[] vector = Run(fixture, threadCount: 3, tokens: 1);
        if (type == GgmlType.F16 && F16Gemm.Supports(SimdCapabilities.Best, Columns))
        {
            float[] x = fixture.Activations.AsSpan(0, Columns).ToArray();
            for (int r = 0; r < Rows; r++)
            {
                var (_, absoluteSum) = KernelTestData.ExactDot(fixture.WeightRows[r], x);
                double bound = 2 * KernelTestData.SummationTolerance(Columns, absoluteSum);
                Assert.True(Math.Abs(single[r] - vector[r]) <= bound,
                    $"row {r}: batch {single[r]:R}, vector {vector[r]:R}, bound {bound}");
            }
        }
        else if ((type == GgmlType.Q4_0 && Q8TileKernels.IsSupportedFor(GgmlType.Q4_0)) ||
            (type == GgmlType.Q8_0 && Q8TileKernels.IsSupportedFor(GgmlType.Q8_0) && Q8_0Gemm.IsSupported))
        {
            for (int r = 0; r < Rows; r++)
            {
                Assert.True(Math.Abs(single[r] - vector[r]) <= 1e-5f * Math.Max(1f, Math.Abs(vector[r])),
                    $"row {r}: batch {single[r]:R}, vector {vector[r]:R}");
            }
        }
        else
        {
            Assert.Equal(single[..Rows], vector);
        }
    }

    [Fact]
    public void LargeMatVecMatchesRowByRowDots()
    {
        const int rows = 300, columns = 4096;
        Fixture fixture = Build(GgmlType.Q4_0, rows, columns, tokens: 1);
        float[] y = Run(fixture, threadCount: 3, tokens: 1, rows, columns);
        byte[] activations = KernelTestData.QuantizeActivations(GgmlType.Q4_0, fixture.Activations.AsSpan(0, columns));
        long rowBytes = GgmlTypeInfo.RowBytes(GgmlType.Q4_0, columns);
        for (int r = 0; r < rows; r++)
        {
            float expected = Q4_0Format.Dot(fixture.Matrix.AsSpan((int)(r * rowBytes), (int)rowBytes), activations, columns);
            Assert.Equal(expected, y[r]);
        }
    }

    [Theory]
    [MemberData(nameof(KernelTestData.SupportedTypeData), MemberType = typeof(KernelTestData))]
    public void MatVecEqualsThePublicRowDotOfTheConvertedActivationsBitForBit(GgmlType type)
    {
        Fixture fixture = Build(type);
        float[] y = Run(fixture, threadCount: 2, tokens: 1);
        byte[] activations = KernelTestData.QuantizeActivations(type, fixture.Activations.AsSpan(0, Columns));
        long rowBytes = GgmlTypeInfo.RowBytes(type, Columns);
        for (int r = 0; r < Rows; r++)
        {
            float expected = Quantizer.Dot(type, fixture.Matrix.AsSpan((int)(r * rowBytes), (int)rowBytes), activations, Columns);
            Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(y[r]));
        }
    }

    [Theory]
    [MemberData(nameof(KernelTestData.SupportedTypeData), MemberType = typeof(KernelTestData))]
    public void GetRowDequantizesOneRow(GgmlType type)
    {
        Fixture fixture = Build(type);
        var row = new float[Columns + 5];
        row.AsSpan().Fill(-99f);
        fixed (byte* data = fixture.Matrix)
        {
            var weights = new WeightMatrix(data, type, Rows, Columns);
            MatrixKernels.GetRow(weights, 17, row);
            Assert.Equal(fixture.WeightRows[17], row[..Columns]);
            Assert.Equal(-99f, row[Columns]); // nothing written past the row
            try
            {
                MatrixKernels.GetRow(weights, Rows, row);
                Assert.Fail("Row out of range should throw.");
            }
            catch (ArgumentOutOfRangeException)
            {
            }
        }
    }

    [Fact]
    public void UnsupportedWeightTypeThrowsNotSupportedNamingTheType()
    {
        var bytes = new byte[4 * 110];
        using var threads = new ComputeThreads(1);
        fixed (byte* data = bytes)
        {
            var weights = new WeightMatrix(data, GgmlType.IQ3_S, 4, 256);
            Assert.Equal(110, weights.RowBytes);
            try
            {
                MatrixKernels.MatVec(threads, weights, new float[256], new float[4]);
                Assert.Fail("IQ3_S should not be supported.");
            }
            catch (NotSupportedException error)
            {
                Assert.Contains("IQ3_S", error.Message);
            }
        }
    }

    [Fact]
    public void RejectsShortBuffersAndBadShapes()
    {
        var bytes = new byte[2 * 34];
        using var threads = new ComputeThreads(1);
        fixed (byte* data = bytes)
        {
            var weights = new WeightMatrix(data, GgmlType.Q8_0, 2, 32);
            Assert.Equal(2, weights.Rows);
            Assert.Equal(34, weights.Row(1).Length);
            AssertThrows<ArgumentException>(() => MatrixKernels.MatVec(threads, weights, new float[31], new float[2]));
            AssertThrows<ArgumentException>(() => MatrixKernels.MatVec(threads, weights, new float[32], new float[1]));
            AssertThrows<ArgumentException>(() => MatrixKernels.MatMul(threads, weights, new float[64], new float[3], 2));
            byte* pointer = data; // a fixed local cannot be captured by the lambdas below
            AssertThrows<ArgumentException>(() => new WeightMatrix(pointer, GgmlType.Q8_0, 1, 33));
            AssertThrows<ArgumentOutOfRangeException>(() => new WeightMatrix(pointer, GgmlType.Q8_0, 0, 32));
            AssertThrows<ArgumentNullException>(() => new WeightMatrix(null, GgmlType.Q8_0, 1, 32));
        }
    }

    private static void AssertThrows<TException>(Action action) where TException : Exception =>
        Assert.ThrowsAny<TException>(action);
}
