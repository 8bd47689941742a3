using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>
/// The Q4_0 / Q8_0 batch paths against their references, bit for bit, for every element: Q8_0 against
/// <see cref="Q8_0Gemm.Reference"/> where the CPU has AVX-VNNI (eight rows per vector, exact block sums), else (two
/// weight rows x four tokens per kernel call, with pair / single-row / single-token remainders) against the public
/// row dot; Q4_0 (eight rows per call, one per lane) against <see cref="Q4_0RowGroups.Reference"/>; row counts that are not
/// multiples of the row tile or of eight, widths from one block to FFN size, token counts around the groups of four
/// and the 64-token tile, through MatMul, MatMul2 and MatMul3 on one and two threads. Matrices made without
/// repacking (llama.cpp's --no-repack) must give Q8_0's public row dot bits.
/// </summary>
public unsafe class Q8TileBatchTests
{
    private static readonly int[] TokenCounts = [2, 3, 4, 5, 7, 8, 63, 64, 65, 130];

    public static IEnumerable<object[]> Cases()
    {
        foreach (GgmlType type in new[] { GgmlType.Q4_0, GgmlType.Q8_0 })
        {
            foreach (int columns in new[] { 32, 96, 2048, 5632 })
            {
                foreach (int threads in new[] { 1, 2 })
                {
                    yield return [type, columns, threads, true];
                }
                if (type == GgmlType.Q8_0)
                {
                    yield return [type, columns, 2, false];
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryElementEqualsThePublicRowDot(GgmlType type, int columns, int threadCount, bool repacking)
    {
        // Wide matrices get fewer rows to keep the reference dots cheap; both sets mix odd and even counts.
        int[] rows = columns > 1024 ? [3, 18, 5] : [1, 37, 34];
        byte[][] matrices = rows.Select((r, i) => KernelTestData.QuantizedMatrix(type, r, columns, seed: 31 * (i + 1) + columns)).ToArray();
        int maxTokens = TokenCounts.Max();
        float[] x = KernelTestData.RandomFloats(maxTokens * columns, seed: columns + 3, scale: 2f);
        byte[][] activations = Enumerable.Range(0, maxTokens)
            .Select(t => KernelTestData.QuantizeActivations(type, x.AsSpan(t * columns, columns)))
            .ToArray();
        float[][] expected = rows.Select((r, i) => ReferenceProducts(type, matrices[i], r, columns, activations, repacking)).ToArray();

        using var threads = new ComputeThreads(threadCount);
        fixed (byte* m0 = matrices[0])
        fixed (byte* m1 = matrices[1])
        fixed (byte* m2 = matrices[2])
        {
            var w0 = new WeightMatrix(m0, type, rows[0], columns, WeightLayout.Rows, repacking);
            var w1 = new WeightMatrix(m1, type, rows[1], columns, WeightLayout.Rows, repacking);
            var w2 = new WeightMatrix(m2, type, rows[2], columns, WeightLayout.Rows, repacking);
            foreach (int tokens in TokenCounts)
            {
                ReadOnlySpan<float> input = x.AsSpan(0, tokens * columns);
                float[] y0 = new float[tokens * rows[0]], y1 = new float[tokens * rows[1]], y2 = new float[tokens * rows[2]];

                MatrixKernels.MatMul(threads, w1, input, y1, tokens);
                AssertBits(expected[1], y1, rows[1], tokens, "MatMul");

                Array.Clear(y0);
                Array.Clear(y1);
                MatrixKernels.MatMul2(threads, input, tokens, w0, y0, w1, y1);
                AssertBits(expected[0], y0, rows[0], tokens, "MatMul2 a");
                AssertBits(expected[1], y1, rows[1], tokens, "MatMul2 b");

                Array.Clear(y0);
                Array.Clear(y1);
                MatrixKernels.MatMul3(threads, input, tokens, w0, y0, w1, y1, w2, y2);
                AssertBits(expected[0], y0, rows[0], tokens, "MatMul3 a");
                AssertBits(expected[1], y1, rows[1], tokens, "MatMul3 b");
                AssertBits(expected[2], y2, rows[2], tokens, "MatMul3 c");
            }
        }
    }

    /// <summary>
    /// [tokens, rows] of each type's batch reference (Q4_0, and Q8_0 with AVX-VNNI: the exact block sums; Q8_0
    /// otherwise, and without <paramref name="repacking"/>: the row dot).
    /// </summary>
    private static float[] ReferenceProducts(GgmlType type, byte[] matrix, int rows, int columns, byte[][] activations,
        bool repacking)
    {
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
        var y = new float[activations.Length * rows];
        for (int t = 0; t < activations.Length; t++)
        {
            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<byte> row = matrix.AsSpan(r * rowBytes, rowBytes);
                y[t * rows + r] = type == GgmlType.Q4_0 ? Q4_0RowGroups.Reference(row, activations[t], columns / 32)
                    : repacking && Q8_0Gemm.IsSupported ? Q8_0Gemm.Reference(row, activations[t], columns / 32)
                    : Quantizer.Dot(type, row, activations[t], columns);
            }
        }
        return y;
    }

    private static void AssertBits(float[] expected, float[] actual, int rows, int tokens, string what)
    {
        for (int i = 0; i < tokens * rows; i++)
        {
            if (BitConverter.SingleToUInt32Bits(expected[i]) != BitConverter.SingleToUInt32Bits(actual[i]))
            {
                Assert.Fail($"{what}: token {i / rows}, row {i % rows} of {rows} x {tokens}: expected {expected[i]:R}, got {actual[i]:R}");
            }
        }
    }
}
