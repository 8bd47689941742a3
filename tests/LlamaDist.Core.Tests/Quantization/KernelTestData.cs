using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>Deterministic inputs and tolerances shared by the kernel tests.</summary>
internal static class KernelTestData
{
    /// <summary>The supported 32-element-block weight types.</summary>
    public static readonly GgmlType[] SupportedTypes =
        [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
         GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1];

    public static IEnumerable<object[]> SupportedTypeData() => SupportedTypes.Select(type => new object[] { type });

    /// <summary>
    /// The supported K-quant weight types (256-element super-blocks, so rows of 256 multiples; they have their own
    /// tests in KQuantMatrixTests rather than the 32-multiple fixtures that use <see cref="SupportedTypes"/>).
    /// </summary>
    public static readonly GgmlType[] KQuantWeightTypes =
        [GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K];

    /// <summary>Gaussian-ish floats (sum of uniforms) with some outliers, like real activations.</summary>
    public static float[] RandomFloats(int count, int seed, float scale = 1f)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            float value = (float)(random.NextDouble() + random.NextDouble() + random.NextDouble() - 1.5) * scale;
            if (random.Next(64) == 0)
            {
                value *= 8f;
            }
            values[i] = value;
        }
        return values;
    }

    /// <summary>
    /// Lengths for the SIMD sweeps: every length up to 160 (all vector widths and every tail), then a stride
    /// that is not a power of two up to 4096, and the powers of two. Filtered to whole blocks of blockSize.
    /// </summary>
    public static IEnumerable<int> SweepLengths(int blockSize)
    {
        var lengths = new SortedSet<int>();
        for (int n = 1; n <= 160; n++) lengths.Add(n);
        for (int n = 160; n <= 4096; n += 96) lengths.Add(n);
        for (int n = 256; n <= 4096; n *= 2) { lengths.Add(n); lengths.Add(n - blockSize); lengths.Add(n + blockSize); }
        for (int n = 32; n <= 4096; n += 32) if (n <= 1024 || n % 288 == 0) lengths.Add(n);
        return lengths.Where(n => n % blockSize == 0 && n <= 4096 + blockSize);
    }

    public static byte[] Quantize(GgmlType type, ReadOnlySpan<float> values)
    {
        var bytes = new byte[GgmlTypeInfo.RowBytes(type, values.Length)];
        Quantizer.QuantizeRow(type, values, bytes);
        return bytes;
    }

    /// <summary>
    /// [rows, columns] of random values quantized row by row to <paramref name="type"/>; row r is drawn with seed
    /// seed + r at the scale <paramref name="rowScale"/> gives it (0.5 when null).
    /// </summary>
    public static byte[] QuantizedMatrix(GgmlType type, int rows, int columns, int seed, Func<int, float>? rowScale = null)
    {
        long rowBytes = GgmlTypeInfo.RowBytes(type, columns);
        var matrix = new byte[rows * rowBytes];
        for (int r = 0; r < rows; r++)
        {
            float[] row = RandomFloats(columns, seed: seed + r, scale: rowScale?.Invoke(r) ?? 0.5f);
            Quantizer.QuantizeRow(type, row, matrix.AsSpan((int)(r * rowBytes), (int)rowBytes));
        }
        return matrix;
    }

    public static byte[] QuantizeActivations(GgmlType weightType, ReadOnlySpan<float> values)
    {
        var bytes = new byte[GgmlTypeInfo.RowBytes(Quantizer.ActivationType(weightType), values.Length)];
        Quantizer.QuantizeActivationRow(weightType, values, bytes);
        return bytes;
    }

    public static float[] Dequantize(GgmlType type, ReadOnlySpan<byte> bytes, int count)
    {
        var values = new float[count];
        Quantizer.DequantizeRow(type, bytes, values);
        return values;
    }

    /// <summary>Σ a_i b_i in double and Σ |a_i b_i| (the scale for summation-order tolerances).</summary>
    public static (double Dot, double AbsoluteSum) ExactDot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, absolute = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double product = (double)a[i] * b[i];
            dot += product;
            absolute += Math.Abs(product);
        }
        return (dot, absolute);
    }

    /// <summary>
    /// Bound on the difference between two float summations of the same n terms in different orders:
    /// each is within n * 2^-24 * Σ|terms| of the exact sum (a generous version of the classic bound).
    /// </summary>
    public static double SummationTolerance(int terms, double absoluteSum) =>
        2.0 * Math.Max(terms, 8) * 6e-8 * absoluteSum + 1e-30;
}
