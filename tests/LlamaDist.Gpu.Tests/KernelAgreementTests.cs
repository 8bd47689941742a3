using ILGPU;
using ILGPU.Runtime;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Numerics;
using LlamaDist.Core.Quantization;
using LlamaDist.Gpu.Kernels;
using Half = System.Half;

namespace LlamaDist.Gpu.Tests;

/// <summary>
/// Every device kernel against its CPU twin, on ILGPU's CPU accelerator: the block readers against the CPU
/// engine's dequantizer (the same float weights, so only summation order differs), the products against the CPU
/// engine's own kernels (which quantize activations for quantized weights, hence a per-type tolerance), and the
/// row-wise steps against VectorMath / Rope.
/// </summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed unsafe class KernelAgreementTests(IlgpuCpuFixture fixture)
{
    private readonly Accelerator accelerator = fixture.Backend.Accelerator;
    private readonly IlgpuKernels kernels = fixture.Backend.Kernels;

    /// <summary>
    /// Largest |device − CPU kernel| allowed, relative to the largest |CPU| output: the CPU engine rounds activations
    /// to F16 (F16 weights) or quantizes them to 8 bits (quantized weights) before the dot.
    /// </summary>
    public static TheoryData<GgmlType, float> TypeTolerances => new()
    {
        { GgmlType.F32, 1e-5f },
        { GgmlType.F16, 1e-5f },
        { GgmlType.Q8_0, 2e-2f },
        { GgmlType.Q4_0, 2e-2f },
        { GgmlType.Q4_K, 2e-2f },
        { GgmlType.Q6_K, 2e-2f },
        { GgmlType.Q5_K, 2e-2f },
    };

    [Theory]
    [MemberData(nameof(TypeTolerances))]
    public void MatMulAgreesWithTheCpuKernelsOverShapes(GgmlType type, float tolerance)
    {
        foreach (var (rows, columns, tokens) in new[] { (1, 256, 1), (7, 256, 3), (33, 512, 5), (16, 768, 9) })
        {
            var random = new Random(rows * 1000 + columns + tokens);
            float[] dense = RandomValues(random, rows * columns, 1f);
            int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
            byte[] bytes = new byte[rows * rowBytes];
            for (int r = 0; r < rows; r++)
            {
                Quantizer.QuantizeRow(type, dense.AsSpan(r * columns, columns), bytes.AsSpan(r * rowBytes, rowBytes));
            }
            float[] x = RandomValues(random, tokens * columns, 1f);

            float[] cpu = new float[tokens * rows];
            float[] exact = new float[tokens * rows];
            fixed (byte* data = bytes)
            {
                var matrix = new WeightMatrix(data, type, rows, columns);
                using var threads = new ComputeThreads(1);
                MatrixKernels.MatMul(threads, matrix, x, cpu, tokens);
                float[] row = new float[columns];
                for (int r = 0; r < rows; r++)
                {
                    MatrixKernels.GetRow(matrix, r, row);
                    if (!IlgpuKernels.NativeTypes.Contains(type))
                    {
                        // Converted to F16 at upload: the device sees these weights rounded to half.
                        for (int c = 0; c < columns; c++)
                        {
                            row[c] = (float)(Half)row[c];
                        }
                    }
                    for (int t = 0; t < tokens; t++)
                    {
                        double sum = 0;
                        for (int c = 0; c < columns; c++)
                        {
                            float activation = type == GgmlType.F16 ? (float)(Half)x[t * columns + c] : x[t * columns + c];
                            sum += row[c] * activation;
                        }
                        exact[t * rows + r] = (float)sum;
                    }
                }

                float[] device = DeviceMatMul(matrix, x, tokens);
                float scale = cpu.Max(MathF.Abs);
                for (int i = 0; i < cpu.Length; i++)
                {
                    Assert.True(MathF.Abs(device[i] - exact[i]) <= 1e-4f * Math.Max(1f, scale),
                        $"{type} {rows}x{columns}x{tokens}: element {i} device {device[i]} vs dequantized {exact[i]}");
                    Assert.True(MathF.Abs(device[i] - cpu[i]) <= tolerance * scale,
                        $"{type} {rows}x{columns}x{tokens}: element {i} device {device[i]} vs CPU kernel {cpu[i]}");
                }
            }
        }
    }

    [Fact]
    public void TokenEmbeddingRowsAreTheCpuRows()
    {
        foreach (var type in new[] { GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K })
        {
            const int rows = 10, columns = 512;
            var random = new Random(17);
            int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
            byte[] bytes = new byte[rows * rowBytes];
            for (int r = 0; r < rows; r++)
            {
                Quantizer.QuantizeRow(type, RandomValues(random, columns, 2f), bytes.AsSpan(r * rowBytes, rowBytes));
            }
            int[] ids = [9, 0, 4, 4];
            fixed (byte* data = bytes)
            {
                var matrix = new WeightMatrix(data, type, rows, columns);
                using var device = Upload(matrix);
                using var idBuffer = accelerator.Allocate1D(ids);
                using var output = accelerator.Allocate1D<float>(ids.Length * columns);
                kernels.GetRows(accelerator.DefaultStream, device, idBuffer.View, output.View, ids.Length);
                float[] actual = output.GetAsArray1D();
                float[] expected = new float[columns];
                for (int t = 0; t < ids.Length; t++)
                {
                    MatrixKernels.GetRow(matrix, ids[t], expected);
                    Assert.Equal(expected, actual.AsSpan(t * columns, columns).ToArray());
                }
            }
        }
    }

    [Theory]
    [InlineData(1, 64)]
    [InlineData(3, 200)]
    [InlineData(5, 2048)]
    public void RmsNormAgreesWithVectorMath(int rows, int width)
    {
        var random = new Random(width);
        float[] x = RandomValues(random, rows * width, 3f);
        float[] weight = RandomValues(random, width, 1f);
        using var source = accelerator.Allocate1D(x);
        using var weights = accelerator.Allocate1D(weight);
        using var destination = accelerator.Allocate1D<float>(x.Length);
        kernels.RmsNorm(accelerator.DefaultStream, source.View, weights.View, destination.View, rows, width, 1e-5f);
        float[] actual = destination.GetAsArray1D();
        float[] expected = new float[width];
        for (int r = 0; r < rows; r++)
        {
            VectorMath.RmsNorm(x.AsSpan(r * width, width), weight, 1e-5f, expected);
            for (int i = 0; i < width; i++)
            {
                Assert.Equal(expected[i], actual[r * width + i], 1e-5f * Math.Max(1f, MathF.Abs(expected[i])));
            }
        }
    }

    [Theory]
    [InlineData(1, 64)]
    [InlineData(3, 200)]
    public void ResidualAddThenRoundedRmsNormIsOneLaunch(int rows, int width)
    {
        var random = new Random(width + 1);
        float[] residual = RandomValues(random, rows * width, 3f);
        float[] addend = RandomValues(random, rows * width, 3f);
        float[] weight = RandomValues(random, width, 1f);
        using var residualBuffer = accelerator.Allocate1D(residual);
        using var addendBuffer = accelerator.Allocate1D(addend);
        using var weights = accelerator.Allocate1D(weight);
        using var destination = accelerator.Allocate1D<float>(residual.Length);
        kernels.AddRmsNorm(accelerator.DefaultStream, residualBuffer.View, addendBuffer.View, weights.View, destination.View, rows, width, 1e-5f, round: true);
        float[] sums = residual.Zip(addend, (a, b) => a + b).ToArray();
        Assert.Equal(sums, residualBuffer.GetAsArray1D());
        float[] actual = destination.GetAsArray1D();
        float[] expected = new float[width];
        for (int r = 0; r < rows; r++)
        {
            VectorMath.RmsNorm(sums.AsSpan(r * width, width), weight, 1e-5f, expected);
            for (int i = 0; i < width; i++)
            {
                float value = actual[r * width + i];
                Assert.Equal((float)(Half)value, value);
                Assert.Equal(expected[i], value, 1e-3f * Math.Max(1f, MathF.Abs(expected[i])));
            }
        }
    }

    [Fact]
    public void SwiGluRoundsForAnF16DownProjection()
    {
        var random = new Random(6);
        float[] gate = RandomValues(random, 300, 8f);
        float[] up = RandomValues(random, 300, 2f);
        using var gateBuffer = accelerator.Allocate1D(gate);
        using var upBuffer = accelerator.Allocate1D(up);
        kernels.SwiGlu(accelerator.DefaultStream, gate.Length, gateBuffer.View, upBuffer.View, 1);
        float[] expected = (float[])gate.Clone();
        VectorMath.SwiGlu(expected, up);
        float[] actual = gateBuffer.GetAsArray1D();
        for (int i = 0; i < gate.Length; i++)
        {
            Assert.Equal((float)(Half)actual[i], actual[i]);
            Assert.Equal(expected[i], actual[i], 1e-3f * Math.Max(1f, MathF.Abs(expected[i])));
        }
    }

    [Fact]
    public void SwiGluAndResidualAddAgreeWithVectorMath()
    {
        var random = new Random(5);
        float[] gate = RandomValues(random, 1000, 8f);
        float[] up = RandomValues(random, 1000, 2f);
        using var gateBuffer = accelerator.Allocate1D(gate);
        using var upBuffer = accelerator.Allocate1D(up);
        kernels.SwiGlu(accelerator.DefaultStream, gate.Length, gateBuffer.View, upBuffer.View, 0);
        float[] expected = (float[])gate.Clone();
        VectorMath.SwiGlu(expected, up);
        float[] actual = gateBuffer.GetAsArray1D();
        for (int i = 0; i < gate.Length; i++)
        {
            Assert.Equal(expected[i], actual[i], 1e-5f * Math.Max(1f, MathF.Abs(expected[i])));
        }

        kernels.Add(accelerator.DefaultStream, gate.Length, gateBuffer.View, upBuffer.View);
        VectorMath.Add(expected, up);
        actual = gateBuffer.GetAsArray1D();
        for (int i = 0; i < gate.Length; i++)
        {
            Assert.Equal(expected[i], actual[i], 1e-5f * Math.Max(1f, MathF.Abs(expected[i])));
        }
    }

    [Theory]
    [InlineData(false, 64, 64, 1f)]
    [InlineData(true, 64, 64, 1f)]
    [InlineData(false, 128, 96, 0.125f)]
    [InlineData(true, 80, 32, 1f)]
    public void RopeThenCacheStoreAgreesWithTheCpuRotation(bool neox, int headDimension, int ropeDimensions, float queryScale)
    {
        // Query and key heads rotated in one launch (grouped-query: fewer key heads), the query scaled and rounded to
        // half, keys and values entering the F16 cache at rows [position, position + tokens).
        const int tokens = 3, heads = 4, kvHeads = 2, position = 11, contextSize = 16;
        int kvWidth = kvHeads * headDimension;
        var style = neox ? Core.Model.RopeStyle.NeoX : Core.Model.RopeStyle.Normal;
        var random = new Random(headDimension + ropeDimensions);
        float[] rows = RandomValues(random, tokens * heads * headDimension, 2f);
        float[] keys = RandomValues(random, tokens * kvWidth, 2f);
        float[] values = RandomValues(random, tokens * kvWidth, 2f);
        int pairs = ropeDimensions / 2;
        float[] cosines = new float[tokens * pairs], sines = new float[tokens * pairs];
        for (int t = 0; t < tokens; t++)
        {
            // The CPU engine's RoPE cache: theta_i = position · base^(-2i / n_rot), by repeated multiplication.
            float thetaScale = MathF.Pow(10000f, -2.0f / ropeDimensions);
            float theta = position + t;
            for (int i = 0; i < pairs; i++)
            {
                cosines[t * pairs + i] = MathF.Cos(theta);
                sines[t * pairs + i] = MathF.Sin(theta);
                theta *= thetaScale;
            }
        }
        using var device = accelerator.Allocate1D(rows);
        using var keyDevice = accelerator.Allocate1D(keys);
        using var valueDevice = accelerator.Allocate1D(values);
        using var cosineBuffer = accelerator.Allocate1D(cosines);
        using var sineBuffer = accelerator.Allocate1D(sines);
        using var keyCache = accelerator.Allocate1D<ushort>(contextSize * kvWidth);
        using var valueCache = accelerator.Allocate1D<ushort>(contextSize * kvWidth);
        keyCache.MemSetToZero();
        valueCache.MemSetToZero();
        var shape = new RopeStoreShape
        {
            Tokens = tokens, QueryHeads = heads, KvHeads = kvHeads, HeadDimension = headDimension, Pairs = pairs,
            Neox = neox ? 1 : 0, KvWidth = kvWidth, Position = position, QueryScale = queryScale,
        };
        kernels.RopeStore(accelerator.DefaultStream, device.View, keyDevice.View, valueDevice.View, cosineBuffer.View, sineBuffer.View,
            keyCache.View, valueCache.View, shape);
        float[] actual = device.GetAsArray1D();
        ushort[] cachedKeys = keyCache.GetAsArray1D();
        ushort[] cachedValues = valueCache.GetAsArray1D();
        for (int t = 0; t < tokens; t++)
        {
            Rope.Apply(rows.AsSpan(t * heads * headDimension, heads * headDimension), heads, headDimension, position + t, ropeDimensions, 10000f, style, ReadOnlySpan<float>.Empty);
            Rope.Apply(keys.AsSpan(t * kvWidth, kvWidth), kvHeads, headDimension, position + t, ropeDimensions, 10000f, style, ReadOnlySpan<float>.Empty);
        }
        Assert.Equal(rows.Select(value => (float)(Half)(value * queryScale)).ToArray(), actual);
        for (int i = 0; i < tokens * kvWidth; i++)
        {
            int cached = position * kvWidth + i;
            Assert.Equal(BitConverter.HalfToUInt16Bits((Half)keys[i]), cachedKeys[cached]);
            Assert.Equal(BitConverter.HalfToUInt16Bits((Half)values[i]), cachedValues[cached]);
        }
        Assert.All(cachedKeys.Take(position * kvWidth), bits => Assert.Equal(0, bits));
    }

    [Fact]
    public void ArgMaxPicksTheFirstLargestLikeTheCpu()
    {
        var random = new Random(3);
        float[] values = RandomValues(random, 32000, 10f);
        values[31999] = 50f;
        values[20000] = 50f;
        using var buffer = accelerator.Allocate1D(values);
        using var result = accelerator.Allocate1D<int>(1);
        kernels.ArgMax(accelerator.DefaultStream, buffer.View, values.Length, result.View);
        Assert.Equal(VectorMath.ArgMax(values), result.GetAsArray1D()[0]);
        Assert.Equal(20000, result.GetAsArray1D()[0]);
    }

    [Fact]
    public void HalfConversionsMatchSystemHalfForEveryPattern()
    {
        using var bits = accelerator.Allocate1D(Enumerable.Range(0, 65536).Select(i => (float)BitConverter.UInt16BitsToHalf((ushort)i)).ToArray());
        using var rounded = accelerator.Allocate1D<float>(65536);
        kernels.RoundToHalf(accelerator.DefaultStream, 65536, bits.View, rounded.View);
        float[] actual = rounded.GetAsArray1D();
        for (int i = 0; i < 65536; i++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)i);
            Assert.True(float.IsNaN(expected) ? float.IsNaN(actual[i]) : expected.Equals(actual[i]), $"pattern {i:X4}");
        }

        var random = new Random(11);
        float[] floats = Enumerable.Range(0, 20000).Select(i => (float)((random.NextDouble() - 0.5) * Math.Pow(2, random.Next(-30, 20)))).ToArray();
        using var source = accelerator.Allocate1D(floats);
        kernels.RoundToHalf(accelerator.DefaultStream, floats.Length, source.View, rounded.View.SubView(0, floats.Length));
        actual = rounded.GetAsArray1D();
        for (int i = 0; i < floats.Length; i++)
        {
            Assert.Equal((float)(Half)floats[i], actual[i]);
        }
    }

    private float[] DeviceMatMul(WeightMatrix matrix, float[] x, int tokens)
    {
        using var device = Upload(matrix);
        using var input = accelerator.Allocate1D(x);
        using var output = accelerator.Allocate1D<float>(tokens * matrix.Rows);
        ArrayView<float> view = input.View;
        if (matrix.Type == GgmlType.F16)
        {
            kernels.RoundToHalf(accelerator.DefaultStream, x.Length, view, view);
        }
        kernels.MatMul(accelerator.DefaultStream, device, view, output.View, tokens);
        return output.GetAsArray1D();
    }

    private DeviceMatrix Upload(WeightMatrix matrix)
    {
        if (!IlgpuKernels.NativeTypes.Contains(matrix.Type))
        {
            // The load path's conversion: rows dequantized and stored as F16.
            var halves = new byte[matrix.Rows * matrix.Columns * 2];
            float[] row = new float[matrix.Columns];
            for (int r = 0; r < matrix.Rows; r++)
            {
                MatrixKernels.GetRow(matrix, r, row);
                for (int c = 0; c < row.Length; c++)
                {
                    BitConverter.TryWriteBytes(halves.AsSpan((r * matrix.Columns + c) * 2, 2), (Half)row[c]);
                }
            }
            return new DeviceMatrix(GgmlType.F16, matrix.Rows, matrix.Columns, matrix.Columns * 2L, accelerator.Allocate1D(halves));
        }
        var bytes = new ReadOnlySpan<byte>(matrix.Data, checked((int)(matrix.Rows * matrix.RowBytes))).ToArray();
        return new DeviceMatrix(matrix.Type, matrix.Rows, matrix.Columns, matrix.RowBytes, accelerator.Allocate1D(bytes));
    }

    private static float[] RandomValues(Random random, int count, float scale) =>
        Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1) * scale).ToArray();
}
