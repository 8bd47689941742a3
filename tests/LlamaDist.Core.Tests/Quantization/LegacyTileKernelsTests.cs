using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>
/// The Q4_1 / Q5_0 / Q5_1 tile kernels (two rows per decode call, four tokens per prompt call) through
/// MatrixKernels: every output must equal the type's single row dot bit for bit, for any row count, token count
/// and thread count, over blocks of random bytes (every bit of the quants and high bits) with finite scales.
/// </summary>
public unsafe class LegacyTileKernelsTests
{
    public static TheoryData<GgmlType> Types() => new() { GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1 };

    [Fact]
    public void The_tile_pass_is_planned_wherever_the_kernels_run()
    {
        foreach (GgmlType type in new[] { GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1 })
        {
            MatrixPassKind expected = LegacyTileKernels.IsSupportedFor(type) ? MatrixPassKind.LegacyTiles : MatrixPassKind.Rows;
            Assert.Equal(expected, MatrixPlan.Choose(type, WeightLayout.Rows, 2048).For(1));
            Assert.Equal(expected, MatrixPlan.Choose(type, WeightLayout.Rows, 2048).For(64));
        }
        Assert.False(LegacyTileKernels.IsSupportedFor(GgmlType.Q4_0));
    }

    [SkippableTheory]
    [MemberData(nameof(Types))]
    public void Matrix_products_equal_the_single_dot_for_any_rows_tokens_and_threads(GgmlType type)
    {
        Skip.IfNot(LegacyTileKernels.IsSupportedFor(type), $"This CPU lacks AVX2+FMA: MatrixKernels never calls the {type} tile kernels here.");
        const int columns = 1024, maxTokens = 65;
        int blockBytes = (int)GgmlTypeInfo.RowBytes(type, 32);
        int activationRowBytes = (int)GgmlTypeInfo.RowBytes(Quantizer.ActivationType(type), columns);
        float[] x = KernelTestData.RandomFloats(maxTokens * columns, seed: 21, scale: 2f);
        var activations = new byte[maxTokens * activationRowBytes];
        for (int t = 0; t < maxTokens; t++)
        {
            Quantizer.QuantizeActivationRow(type, x.AsSpan(t * columns, columns), activations.AsSpan(t * activationRowBytes, activationRowBytes));
        }
        using var one = new ComputeThreads(1);
        using var two = new ComputeThreads(2);
        foreach (int rows in new[] { 1, 2, 7, 16, 33 })
        {
            int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
            var matrix = new byte[rows * rowBytes];
            new Random(rows).NextBytes(matrix);
            for (int block = 0; block < matrix.Length; block += blockBytes)
            {
                // d, and for Q4_1 / Q5_1 the minimum m right after it: finite halves of either sign.
                BitConverter.TryWriteBytes(matrix.AsSpan(block), (ushort)(0x2400 + (block * 7) % 0x800 | (block & 0x40) << 9));
                if (type != GgmlType.Q5_0)
                {
                    BitConverter.TryWriteBytes(matrix.AsSpan(block + 2), (ushort)(0x2000 + (block * 5) % 0x600 | (block & 0x20) << 10));
                }
            }
            var expected = new float[maxTokens * rows];
            for (int t = 0; t < maxTokens; t++)
            {
                for (int r = 0; r < rows; r++)
                {
                    expected[t * rows + r] = Quantizer.Dot(type, matrix.AsSpan(r * rowBytes, rowBytes),
                        activations.AsSpan(t * activationRowBytes, activationRowBytes), columns);
                }
            }
            fixed (byte* data = matrix)
            {
                var weights = new WeightMatrix(data, type, rows, columns);
                foreach (int tokens in new[] { 1, 2, 4, 5, 9, 65 })
                {
                    foreach (ComputeThreads threads in new[] { one, two })
                    {
                        var y = new float[tokens * rows];
                        MatrixKernels.MatMul(threads, weights, x.AsSpan(0, tokens * columns), y, tokens);
                        for (int i = 0; i < y.Length; i++)
                        {
                            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(y[i]))
                            {
                                Assert.Fail($"{type} {rows} rows, {tokens} tokens, {threads.ThreadCount} threads: element {i} " +
                                    $"{y[i]:R} vs single dot {expected[i]:R}");
                            }
                        }
                    }
                }
            }
        }
    }
}
