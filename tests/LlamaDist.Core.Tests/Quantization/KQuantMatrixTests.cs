using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>MatVec / MatMul over K-quant weights (rows of 256-element super-blocks, Q8_K activations).</summary>
public unsafe class KQuantMatrixTests
{
    private const int Rows = 37;      // odd, so chunks and row tiles end unevenly
    private const int Columns = 768;  // 3 super-blocks
    private const int Tokens = 19;    // more than one token tile

    public static IEnumerable<object[]> Types() => KernelTestData.KQuantWeightTypes.Select(t => new object[] { t });

    private static (byte[] Matrix, float[][] WeightRows, float[] Activations) Build(GgmlType type)
    {
        long rowBytes = GgmlTypeInfo.RowBytes(type, Columns);
        var matrix = new byte[Rows * rowBytes];
        var weightRows = new float[Rows][];
        for (int r = 0; r < Rows; r++)
        {
            Span<byte> row = matrix.AsSpan((int)(r * rowBytes), (int)rowBytes);
            Quantizer.QuantizeRow(type, KernelTestData.RandomFloats(Columns, seed: 2000 + r, scale: 0.5f), row);
            weightRows[r] = KernelTestData.Dequantize(type, row, Columns);
        }
        return (matrix, weightRows, KernelTestData.RandomFloats(Tokens * Columns, seed: 78, scale: 2f));
    }

    private static float[] Run(GgmlType type, byte[] matrix, float[] activations, int threadCount, int tokens)
    {
        var y = new float[tokens * Rows];
        using var threads = new ComputeThreads(threadCount);
        fixed (byte* data = matrix)
        {
            var weights = new WeightMatrix(data, type, Rows, Columns);
            if (tokens == 1)
            {
                MatrixKernels.MatVec(threads, weights, activations.AsSpan(0, Columns), y);
            }
            else
            {
                MatrixKernels.MatMul(threads, weights, activations.AsSpan(0, tokens * Columns), y, tokens);
            }
        }
        return y;
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void MatMulMatchesDequantizedReferenceOfQ8KActivations(GgmlType type)
    {
        var (matrix, weightRows, activations) = Build(type);
        float[] y = Run(type, matrix, activations, threadCount: 2, tokens: Tokens);
        for (int t = 0; t < Tokens; t++)
        {
            byte[] converted = KernelTestData.QuantizeActivations(type, activations.AsSpan(t * Columns, Columns));
            float[] x = KernelTestData.Dequantize(GgmlType.Q8_K, converted, Columns);
            for (int r = 0; r < Rows; r++)
            {
                var (exact, absoluteSum) = KernelTestData.ExactDot(weightRows[r], x);
                Assert.True(Math.Abs(y[t * Rows + r] - exact) <= KernelTestData.SummationTolerance(Columns, absoluteSum),
                    $"{type} token {t} row {r}: {y[t * Rows + r]} vs {exact}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void MatMulIsCloseToTheFloatDotOfTheDequantizedWeights(GgmlType type)
    {
        // Q8_K activations are off by at most half a step (amax / 254 of their 256-element block) per element.
        var (matrix, weightRows, activations) = Build(type);
        float[] y = Run(type, matrix, activations, threadCount: 3, tokens: Tokens);
        for (int t = 0; t < Tokens; t++)
        {
            float[] x = activations.AsSpan(t * Columns, Columns).ToArray();
            for (int r = 0; r < Rows; r++)
            {
                var (exact, absoluteSum) = KernelTestData.ExactDot(weightRows[r], x);
                double bound = KernelTestData.SummationTolerance(Columns, absoluteSum);
                for (int i = 0; i < Columns; i++)
                {
                    bound += Math.Abs(weightRows[r][i]) * x.Skip(i / 256 * 256).Take(256).Max(MathF.Abs) / 254.0 * 1.001;
                }
                Assert.True(Math.Abs(y[t * Rows + r] - exact) <= bound, $"{type} token {t} row {r}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void ResultsAreIdenticalForAnyThreadCountAndForMatVec(GgmlType type)
    {
        var (matrix, _, activations) = Build(type);
        float[] one = Run(type, matrix, activations, threadCount: 1, tokens: Tokens);
        Assert.Equal(one, Run(type, matrix, activations, threadCount: 3, tokens: Tokens));
        Assert.Equal(one[..Rows], Run(type, matrix, activations, threadCount: 2, tokens: 1));
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void GetRowDequantizesOneRow(GgmlType type)
    {
        var (matrix, weightRows, _) = Build(type);
        var row = new float[Columns];
        fixed (byte* data = matrix)
        {
            MatrixKernels.GetRow(new WeightMatrix(data, type, Rows, Columns), 5, row);
        }
        Assert.Equal(weightRows[5], row);
    }
}
