using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>
/// What the Q4_0, Q4_K and Q8_0 row-group tests share: regrouping a test matrix, and checking products against the
/// type's scalar reference bit for bit.
/// </summary>
internal static unsafe class RowGroupTestSupport
{
    /// <summary>columns x tokens x threads (1 and 2) for a theory.</summary>
    public static IEnumerable<object[]> Cases(int[] columns, int[] tokens)
    {
        foreach (int width in columns)
        {
            foreach (int count in tokens)
            {
                foreach (int threadCount in new[] { 1, 2 })
                {
                    yield return [width, count, threadCount];
                }
            }
        }
    }

    /// <summary>A copy of <paramref name="matrix"/> (Q4_0, Q4_K or Q8_0 rows) regrouped in place.</summary>
    public static byte[] Regrouped(GgmlType type, byte[] matrix, int rows, int columns)
    {
        byte[] copy = (byte[])matrix.Clone();
        int blocks = columns / GgmlTypeInfo.BlockSize(type);
        var scratch = new byte[8 * GgmlTypeInfo.RowBytes(type, columns)];
        fixed (byte* data = copy)
        fixed (byte* scratchPointer = scratch)
        {
            Assert.True(RowGroupLayouts.TryRegroupInPlace(type, data, rows, blocks, scratchPointer));
        }
        return copy;
    }

    /// <summary>
    /// MatMul of a regrouped random matrix equals the type's reference for every row and token, bit for bit; without
    /// AVX2 (where nothing is regrouped at load) a regrouped matrix built by hand is refused.
    /// </summary>
    public static void AssertRegroupedMatMulGivesReference(GgmlType type, int rows, int columns, int tokens, int threadCount)
    {
        byte[] matrix = KernelTestData.QuantizedMatrix(type, rows, columns, seed: columns + tokens);
        byte[] regrouped = Regrouped(type, matrix, rows, columns);
        float[] x = KernelTestData.RandomFloats(tokens * columns, seed: 21, scale: 2f);
        var y = new float[tokens * rows];
        using var threads = new ComputeThreads(threadCount);
        fixed (byte* data = regrouped)
        {
            var weights = new WeightMatrix(data, type, rows, columns, RowGroupLayouts.LayoutOf(type));
            if (!RowGroupLayouts.IsSupported(weights.Layout))
            {
                Assert.Throws<NotSupportedException>(() => MatrixKernels.MatMul(threads, weights, x, y, tokens));
                return;
            }
            MatrixKernels.MatMul(threads, weights, x, y, tokens);
        }
        AssertReference(type, matrix, rows, columns, x, tokens, y);
    }

    /// <summary>Every y[t * rows + r] equals the type's row-group reference of file row r and token t, bit for bit.</summary>
    public static void AssertReference(GgmlType type, byte[] matrix, int rows, int columns, float[] x, int tokens, float[] y)
    {
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
        int blocks = columns / GgmlTypeInfo.BlockSize(type);
        for (int t = 0; t < tokens; t++)
        {
            byte[] activations = KernelTestData.QuantizeActivations(type, x.AsSpan(t * columns, columns));
            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<byte> row = matrix.AsSpan(r * rowBytes, rowBytes);
                float expected = type switch
                {
                    GgmlType.Q4_0 => Q4_0RowGroups.Reference(row, activations, blocks),
                    GgmlType.Q8_0 => Q8_0Gemm.Reference(row, activations, blocks),
                    _ => Q4_KRowGroups.Reference(row, activations, blocks),
                };
                Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(y[t * rows + r]),
                    $"row {r}, token {t}: reference {expected:R}, kernel {y[t * rows + r]:R}");
            }
        }
    }
}
