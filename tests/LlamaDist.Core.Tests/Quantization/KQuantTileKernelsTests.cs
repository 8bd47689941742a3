using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>
/// The Q3_K / Q4_K / Q5_K / Q6_K tile kernels (four tokens per weight row for prompts, two weight rows per call for decode)
/// and MatrixKernels' products over them: every element must equal the public single-row dot of its weight row
/// and Q8_K activation row bit for bit, for any row count, width, token count and thread count.
/// </summary>
public unsafe class KQuantTileKernelsTests
{
    private static readonly GgmlType[] TileTypes = [GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K];

    private static void FourTokens(GgmlType type, byte* w, byte* a, long aStride, int blocks, float* y, long yStride)
    {
        switch (type)
        {
            case GgmlType.Q3_K: Q3_KTileKernels.Q3_KDot1x4(w, a, aStride, blocks, y, yStride); break;
            case GgmlType.Q4_K: KQuantTileKernels.Q4_KDot1x4(w, a, aStride, blocks, y, yStride); break;
            case GgmlType.Q5_K: Q5_KTileKernels.Q5_KDot1x4(w, a, aStride, blocks, y, yStride); break;
            default: KQuantTileKernels.Q6_KDot1x4(w, a, aStride, blocks, y, yStride); break;
        }
    }

    private static void TwoRows(GgmlType type, byte* w, long rowBytes, byte* a, int blocks, float* y)
    {
        switch (type)
        {
            case GgmlType.Q3_K: Q3_KTileKernels.Q3_KDot2x1(w, rowBytes, a, blocks, y); break;
            case GgmlType.Q4_K: KQuantTileKernels.Q4_KDot2x1(w, rowBytes, a, blocks, y); break;
            case GgmlType.Q5_K: Q5_KTileKernels.Q5_KDot2x1(w, rowBytes, a, blocks, y); break;
            default: KQuantTileKernels.Q6_KDot2x1(w, rowBytes, a, blocks, y); break;
        }
    }
    private static readonly int[] WidthSweep = [256, 512, 768, 1280, 2048, 4352];
    private static readonly int[] RowSweep = [1, 2, 3, 7, 16, 17, 33];
    private static readonly int[] TokenSweep = [1, 2, 3, 4, 5, 7, 64, 65];

    public static IEnumerable<object[]> TypesAndWidths() =>
        from type in TileTypes from columns in WidthSweep select new object[] { type, columns };

    // Some rows with larger values so the 6-bit scales and minimums spread over their whole range.
    private static byte[] Matrix(GgmlType type, int rows, int columns, int seed) =>
        KernelTestData.QuantizedMatrix(type, rows, columns, seed, r => r % 3 == 2 ? 4f : 0.5f);

    /// <summary>Activation rows converted to Q8_K, [tokens, row bytes].</summary>
    private static byte[] Activations(GgmlType type, float[] x, int tokens, int columns)
    {
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q8_K, columns);
        var converted = new byte[tokens * rowBytes];
        for (int t = 0; t < tokens; t++)
        {
            Quantizer.QuantizeActivationRow(type, x.AsSpan(t * columns, columns), converted.AsSpan(t * rowBytes, rowBytes));
        }
        return converted;
    }

    /// <summary>The reference: each element the public row dot at MatrixKernels' level.</summary>
    private static float[] Expected(GgmlType type, byte[] matrix, int rows, byte[] activations, int tokens, int columns)
    {
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
        int activationRowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q8_K, columns);
        var y = new float[tokens * rows];
        for (int t = 0; t < tokens; t++)
        {
            for (int r = 0; r < rows; r++)
            {
                y[t * rows + r] = Quantizer.Dot(type, matrix.AsSpan(r * rowBytes, rowBytes),
                    activations.AsSpan(t * activationRowBytes, activationRowBytes), columns);
            }
        }
        return y;
    }

    private static void AssertBitIdentical(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                Assert.Fail($"{what}: element {i}: {actual[i]:R} vs single dot {expected[i]:R}");
            }
        }
    }

    [Fact]
    public void TheTileKernelsAreUsedWhereverTheAvx2SingleDotIs()
    {
        foreach (GgmlType type in TileTypes)
        {
            bool avx2Dot = Quantizer.DefaultLevel(type) >= SimdLevel.Vector256 &&
                System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported;
            Assert.Equal(avx2Dot, KQuantTileKernels.IsSupportedFor(type));
        }
        Assert.False(KQuantTileKernels.IsSupportedFor(GgmlType.Q2_K));
        Assert.Equal(System.Runtime.Intrinsics.X86.Avx512BW.IsSupported && SimdCapabilities.Best == SimdLevel.Vector512 &&
            System.Runtime.Intrinsics.X86.Fma.IsSupported, KQuantPairKernels512.IsSupported);
        Assert.False(KQuantTileKernels.IsSupportedFor(GgmlType.Q4_0));
    }

    [SkippableFact]
    public void Q4_KTwoRowKernelEqualsTheSingleDotForEveryScaleBitPattern()
    {
        Skip.IfNot(KQuantTileKernels.IsSupportedFor(GgmlType.Q4_K), "This CPU lacks AVX2+FMA: the Q4_K tile kernels never run here.");
        // Random bytes for the packed scales / minimums and quants (every bit of the 12 packed bytes varies, which
        // quantized rows do not guarantee), with d and dmin set to finite halves; 2048 columns, 16 rows.
        const int columns = 2048, rows = 16;
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q4_K, columns);
        var matrix = new byte[rows * rowBytes];
        new Random(5).NextBytes(matrix);
        for (int block = 0; block < matrix.Length; block += Q4_KFormat.BlockBytes)
        {
            BitConverter.TryWriteBytes(matrix.AsSpan(block), (ushort)(0x2400 + block % 0x800));     // d
            BitConverter.TryWriteBytes(matrix.AsSpan(block + 2), (ushort)(0x2000 + block % 0x600)); // dmin
        }
        byte[] activations = Activations(GgmlType.Q4_K, KernelTestData.RandomFloats(columns, seed: 3, scale: 2f), 1, columns);
        float[] expected = Expected(GgmlType.Q4_K, matrix, rows, activations, 1, columns);
        var actual = new float[rows];
        fixed (byte* w = matrix)
        fixed (byte* a = activations)
        fixed (float* y = actual)
        {
            for (int r = 0; r < rows; r += 2)
            {
                KQuantTileKernels.Q4_KDot2x1(w + r * rowBytes, rowBytes, a, columns / 256, y + r);
            }
        }
        AssertBitIdentical(expected, actual, "Q4_K 2x1 random scale bytes");
    }

    public static IEnumerable<object[]> WideTypesAndWidths() =>
        from type in new[] { GgmlType.Q3_K, GgmlType.Q6_K } from columns in WidthSweep select new object[] { type, columns };

    [SkippableTheory]
    [MemberData(nameof(WideTypesAndWidths))]
    public void The512BitTwoRowKernelsEqualTheSingleDot(GgmlType type, int columns)
    {
        Skip.IfNot(KQuantPairKernels512.IsSupported, "This CPU (or the runtime's settings) has no AVX-512BW: the 512-bit two-row kernels never run here.");
        // Quantized rows, and rows of random bytes (every bit of every field) with finite scales.
        const int rows = 6, tokens = 3;
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
        byte[] random = new byte[rows * rowBytes];
        new Random(columns).NextBytes(random);
        int scaleOffset = type == GgmlType.Q3_K ? Q3_KFormat.ScaleOffset : Q6_KFormat.ScaleOffset;
        int blockBytes = type == GgmlType.Q3_K ? Q3_KFormat.BlockBytes : Q6_KFormat.BlockBytes;
        for (int block = 0; block < random.Length; block += blockBytes)
        {
            BitConverter.TryWriteBytes(random.AsSpan(block + scaleOffset), (ushort)(0x2400 + block % 0x800));
        }
        byte[] activations = Activations(type, KernelTestData.RandomFloats(tokens * columns, seed: 3 + columns, scale: 2f), tokens, columns);
        int activationRowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q8_K, columns);
        foreach (byte[] matrix in new[] { Matrix(type, rows, columns, seed: 40 + columns), random })
        {
            float[] expected = Expected(type, matrix, rows, activations, tokens, columns);
            var actual = new float[tokens * rows];
            fixed (byte* w = matrix)
            fixed (byte* a = activations)
            fixed (float* y = actual)
            {
                for (int t = 0; t < tokens; t++)
                {
                    for (int r = 0; r < rows; r += 2)
                    {
                        byte* row = w + r * rowBytes;
                        byte* token = a + t * activationRowBytes;
                        if (type == GgmlType.Q3_K)
                        {
                            KQuantPairKernels512.Q3_KDot2x1(row, rowBytes, token, columns / 256, y + t * rows + r);
                        }
                        else
                        {
                            KQuantPairKernels512.Q6_KDot2x1(row, rowBytes, token, columns / 256, y + t * rows + r);
                        }
                    }
                }
            }
            AssertBitIdentical(expected, actual, $"{type} 2x1 512-bit {columns} columns");
        }
    }

    [SkippableFact]
    public void Q3_KTileKernelsEqualTheSingleDotForEveryQuantAndScaleBitPattern()
    {
        Skip.IfNot(KQuantTileKernels.IsSupportedFor(GgmlType.Q3_K), "This CPU lacks AVX2+FMA: the Q3_K tile kernels never run here.");
        // Random bytes for the high bits, the 2-bit quants and the packed scales (every stored level 0-63, so
        // signed scales -32..31), with d set to finite halves; 2048 columns, 16 rows, 4 tokens.
        const int columns = 2048, rows = 16, tokens = 4;
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q3_K, columns);
        var matrix = new byte[rows * rowBytes];
        new Random(7).NextBytes(matrix);
        for (int block = 0; block < matrix.Length; block += Q3_KFormat.BlockBytes)
        {
            BitConverter.TryWriteBytes(matrix.AsSpan(block + Q3_KFormat.ScaleOffset), (ushort)(0x2400 + block % 0x800));
        }
        AssertTileKernelsMatch(GgmlType.Q3_K, matrix, rows, columns, tokens, seed: 5, "random bytes");
    }

    [SkippableFact]
    public void Q5_KTileKernelsEqualTheSingleDotForEveryQuantAndScaleBitPattern()
    {
        Skip.IfNot(KQuantTileKernels.IsSupportedFor(GgmlType.Q5_K), "This CPU lacks AVX2+FMA: the Q5_K tile kernels never run here.");
        // Random bytes for the packed scales and minimums, the fifth bits and the nibbles (every bit of qh next to
        // its neighbours, which the kernels' 16-bit shifts must keep apart), with d and dmin set to finite halves;
        // 2048 columns, 16 rows, 4 tokens.
        const int columns = 2048, rows = 16, tokens = 4;
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q5_K, columns);
        var matrix = new byte[rows * rowBytes];
        new Random(8).NextBytes(matrix);
        for (int block = 0; block < matrix.Length; block += Q5_KFormat.BlockBytes)
        {
            BitConverter.TryWriteBytes(matrix.AsSpan(block), (ushort)(0x2400 + block % 0x800));     // d
            BitConverter.TryWriteBytes(matrix.AsSpan(block + 2), (ushort)(0x2000 + block % 0x600)); // dmin
        }
        AssertTileKernelsMatch(GgmlType.Q5_K, matrix, rows, columns, tokens, seed: 6, "random bytes");
    }

    [SkippableFact]
    public void Q6_KTileKernelsEqualTheSingleDotForEveryQuantAndScaleBitPattern()
    {
        Skip.IfNot(KQuantTileKernels.IsSupportedFor(GgmlType.Q6_K), "This CPU lacks AVX2+FMA: the Q6_K tile kernels never run here.");
        // Random bytes for ql, qh and the int8 scales (every bit of qh next to every bit of its neighbours, which
        // the kernels' 16-bit shifts must keep apart, and scales down to -128), with d set to finite halves;
        // 2048 columns, 16 rows, 4 tokens.
        const int columns = 2048, rows = 16, tokens = 4;
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q6_K, columns);
        var matrix = new byte[rows * rowBytes];
        new Random(9).NextBytes(matrix);
        for (int block = 0; block < matrix.Length; block += Q6_KFormat.BlockBytes)
        {
            BitConverter.TryWriteBytes(matrix.AsSpan(block + Q6_KFormat.ScaleOffset), (ushort)(0x2400 + block % 0x800));
        }
        AssertTileKernelsMatch(GgmlType.Q6_K, matrix, rows, columns, tokens, seed: 4, "random bytes");
    }

    /// <summary>Both tile kernels of <paramref name="type"/> over every row of <paramref name="matrix"/> against the single dot.</summary>
    private static void AssertTileKernelsMatch(GgmlType type, byte[] matrix, int rows, int columns, int tokens, int seed, string what)
    {
        byte[] activations = Activations(type, KernelTestData.RandomFloats(tokens * columns, seed, scale: 2f), tokens, columns);
        float[] expected = Expected(type, matrix, rows, activations, tokens, columns);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
        int activationRowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q8_K, columns);
        var twoRows = new float[tokens * rows];
        var fourTokens = new float[tokens * rows];
        fixed (byte* w = matrix)
        fixed (byte* a = activations)
        fixed (float* pairs = twoRows)
        fixed (float* quads = fourTokens)
        {
            for (int r = 0; r < rows; r++)
            {
                FourTokens(type, w + r * rowBytes, a, activationRowBytes, columns / 256, quads + r, rows);
            }
            for (int t = 0; t < tokens; t++)
            {
                for (int r = 0; r < rows; r += 2)
                {
                    TwoRows(type, w + r * rowBytes, rowBytes, a + t * activationRowBytes, columns / 256, pairs + t * rows + r);
                }
            }
        }
        AssertBitIdentical(expected, twoRows, $"{type} 2x1 {what}");
        AssertBitIdentical(expected, fourTokens, $"{type} 1x4 {what}");
    }

    [SkippableTheory]
    [MemberData(nameof(TypesAndWidths))]
    public void FourTokenAndTwoRowKernelsEqualTheSingleDot(GgmlType type, int columns)
    {
        Skip.IfNot(KQuantTileKernels.IsSupportedFor(type), $"This CPU lacks AVX2+FMA: MatrixKernels never calls the {type} tile kernels here.");
        const int rows = 2, tokens = 4;
        byte[] matrix = Matrix(type, rows, columns, seed: columns);
        byte[] activations = Activations(type, KernelTestData.RandomFloats(tokens * columns, seed: 7 + columns, scale: 2f),
            tokens, columns);
        float[] expected = Expected(type, matrix, rows, activations, tokens, columns);
        int blocks = columns / 256;
        long rowBytes = GgmlTypeInfo.RowBytes(type, columns);
        long activationRowBytes = GgmlTypeInfo.RowBytes(GgmlType.Q8_K, columns);
        fixed (byte* w = matrix)
        fixed (byte* a = activations)
        {
            // 1 x 4: row r against tokens 0-3, written with the output's [tokens, rows] stride.
            var fourTokens = new float[tokens * rows];
            fixed (float* y = fourTokens)
            {
                for (int r = 0; r < rows; r++)
                {
                    FourTokens(type, w + r * rowBytes, a, activationRowBytes, blocks, y + r, rows);
                }
            }
            AssertBitIdentical(expected, fourTokens, $"{type} 1x4 {columns} columns");

            // 2 x 1: both rows against each token.
            var twoRows = new float[tokens * rows];
            fixed (float* y = twoRows)
            {
                for (int t = 0; t < tokens; t++)
                {
                    TwoRows(type, w, rowBytes, a + t * activationRowBytes, blocks, y + t * rows);
                }
            }
            AssertBitIdentical(expected, twoRows, $"{type} 2x1 {columns} columns");
        }
    }

    [Theory]
    [MemberData(nameof(TypesAndWidths))]
    public void MatMulEqualsTheSingleDotForAnyRowsTokensAndThreads(GgmlType type, int columns)
    {
        int maxTokens = TokenSweep.Max();
        float[] x = KernelTestData.RandomFloats(maxTokens * columns, seed: 11 + columns, scale: 2f);
        byte[] activations = Activations(type, x, maxTokens, columns);
        using var one = new ComputeThreads(1);
        using var two = new ComputeThreads(2);
        foreach (int rows in RowSweep)
        {
            byte[] matrix = Matrix(type, rows, columns, seed: 1000 * rows + columns);
            float[] all = Expected(type, matrix, rows, activations, maxTokens, columns);
            fixed (byte* data = matrix)
            {
                var weights = new WeightMatrix(data, type, rows, columns);
                foreach (int tokens in TokenSweep)
                {
                    // The first tokens' results do not depend on how many tokens follow them.
                    float[] expected = all[..(tokens * rows)];
                    foreach (ComputeThreads threads in new[] { one, two })
                    {
                        var y = new float[tokens * rows];
                        MatrixKernels.MatMul(threads, weights, x.AsSpan(0, tokens * columns), y, tokens);
                        AssertBitIdentical(expected, y,
                            $"{type} MatMul {rows}x{columns}, {tokens} tokens, {threads.ThreadCount} threads");
                    }
                }
            }
        }
    }

    [Theory]
    [InlineData(GgmlType.Q3_K, 1)]
    [InlineData(GgmlType.Q3_K, 2)]
    [InlineData(GgmlType.Q4_K, 1)]
    [InlineData(GgmlType.Q4_K, 2)]
    [InlineData(GgmlType.Q5_K, 1)]
    [InlineData(GgmlType.Q5_K, 2)]
    [InlineData(GgmlType.Q6_K, 1)]
    [InlineData(GgmlType.Q6_K, 2)]
    public void FusedProductsEqualTheSingleDot(GgmlType type, int threadCount)
    {
        const int columns = 1024;
        int[] rows = [34, 17, 8]; // an odd count too: the decode pairs fall back to single rows
        byte[][] matrices = rows.Select((r, i) => Matrix(type, r, columns, 300 * (i + 1))).ToArray();
        using var threads = new ComputeThreads(threadCount);
        foreach (int tokens in new[] { 1, 2, 4, 5, 9, 65 })
        {
            float[] x = KernelTestData.RandomFloats(tokens * columns, seed: 17 + tokens, scale: 2f);
            byte[] activations = Activations(type, x, tokens, columns);
            float[][] expected = rows.Select((r, i) => Expected(type, matrices[i], r, activations, tokens, columns)).ToArray();
            fixed (byte* m0 = matrices[0])
            fixed (byte* m1 = matrices[1])
            fixed (byte* m2 = matrices[2])
            {
                var w0 = new WeightMatrix(m0, type, rows[0], columns);
                var w1 = new WeightMatrix(m1, type, rows[1], columns);
                var w2 = new WeightMatrix(m2, type, rows[2], columns);
                float[][] three = rows.Select(r => new float[tokens * r]).ToArray();
                MatrixKernels.MatMul3(threads, x, tokens, w0, three[0], w1, three[1], w2, three[2]);
                for (int i = 0; i < 3; i++)
                {
                    AssertBitIdentical(expected[i], three[i], $"{type} MatMul3 matrix {i}, {tokens} tokens");
                }

                // Even row counts only: decode then runs every row in pairs.
                float[][] two = [new float[tokens * rows[0]], new float[tokens * rows[2]]];
                MatrixKernels.MatMul2(threads, x, tokens, w0, two[0], w2, two[1]);
                AssertBitIdentical(expected[0], two[0], $"{type} MatMul2 matrix 0, {tokens} tokens");
                AssertBitIdentical(expected[2], two[1], $"{type} MatMul2 matrix 2, {tokens} tokens");
            }
        }
    }

    [Fact]
    public void ExtremeQuantsEqualTheSingleDot()
    {
        // Q6_K quants at both ends (-32 and 31), Q4_K nibbles 0 and 15 with the largest 6-bit scales and
        // minimums, against activation blocks whose largest value sits at either sign.
        const int columns = 512, rows = 4, tokens = 5;
        var values = new float[rows * columns];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (i % 7) switch { 0 => -8f, 1 => 7.75f, 2 => 0f, 3 => -0.01f, _ => (i % 13) - 6f };
        }
        var x = new float[tokens * columns];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (i % 5) switch { 0 => 100f, 1 => -100f, 2 => 0f, _ => (i % 11) - 5f };
        }
        x[3] = -250f; // the largest magnitude negative in one block
        x[300] = 250f; // and positive in another
        using var threads = new ComputeThreads(2);
        foreach (GgmlType type in TileTypes)
        {
            long rowBytes = GgmlTypeInfo.RowBytes(type, columns);
            var matrix = new byte[rows * rowBytes];
            for (int r = 0; r < rows; r++)
            {
                Quantizer.QuantizeRow(type, values.AsSpan(r * columns, columns), matrix.AsSpan((int)(r * rowBytes), (int)rowBytes));
            }
            float[] expected = Expected(type, matrix, rows, Activations(type, x, tokens, columns), tokens, columns);
            fixed (byte* data = matrix)
            {
                var weights = new WeightMatrix(data, type, rows, columns);
                foreach (int n in new[] { 1, 4, 5 })
                {
                    var y = new float[n * rows];
                    MatrixKernels.MatMul(threads, weights, x.AsSpan(0, n * columns), y, n);
                    AssertBitIdentical(expected[..(n * rows)], y, $"{type} extreme values, {n} tokens");
                }
            }
        }
    }
}
