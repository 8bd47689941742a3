using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Numerics;
using LlamaDist.Core.Quantization;
using LlamaDist.Gpu.Kernels;
using Half = System.Half;

namespace LlamaDist.Gpu.Tests;

/// <summary>
/// The product kernels' own shapes. The warp-per-row matrix × vector kernel on ILGPU's CPU accelerator: row counts that leave the last group's
/// warps idle, rows whose word count is not a multiple of the warp, odd F16/F32 widths (rows off a word boundary),
/// and up to three matrices fused into one launch; the tiled matrix × matrix kernel with rows, tokens and columns
/// that leave partial tiles and partial column steps, written at a row offset and stride. Each against the
/// dequantized weights summed in double.
/// </summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed unsafe class ProductKernelTests(IlgpuCpuFixture fixture)
{
    private readonly Accelerator accelerator = fixture.Backend.Accelerator;
    private readonly IlgpuKernels kernels = fixture.Backend.Kernels;

    public static TheoryData<GgmlType, int, int> Shapes => new()
    {
        { GgmlType.F32, 5, 67 },
        { GgmlType.F16, 5, 67 },
        { GgmlType.F16, 9, 130 },
        { GgmlType.F16, 4, 264 },
        { GgmlType.Q8_0, 3, 32 },
        { GgmlType.Q8_0, 11, 96 },
        { GgmlType.Q4_0, 3, 32 },
        { GgmlType.Q4_0, 11, 96 },
        { GgmlType.Q4_0, 5, 192 },
        { GgmlType.Q4_0, 3, 2112 },
        { GgmlType.Q4_K, 3, 256 },
        { GgmlType.Q4_K, 5, 512 },
        { GgmlType.Q6_K, 3, 512 },
        { GgmlType.Q6_K, 4, 256 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void OneTokenProductIsTheDequantizedDot(GgmlType type, int rows, int columns)
    {
        var random = new Random(rows * 1000 + columns + (int)type);
        var (bytes, dense) = RandomMatrix(random, type, rows, columns);
        float[] x = RandomValues(random, columns);
        using var device = Upload(type, rows, columns, bytes);
        using var input = accelerator.Allocate1D(x);
        using var output = accelerator.Allocate1D<float>(rows);
        kernels.MatVec(accelerator.DefaultStream, input.View, device, output.View);
        AssertDot(dense, x, rows, columns, output.GetAsArray1D(), $"{type} {rows}x{columns}");
    }

    [Theory]
    [InlineData(GgmlType.F16, 64)]
    [InlineData(GgmlType.Q8_0, 64)]
    [InlineData(GgmlType.Q4_0, 64)]
    public void ThreeMatricesShareOneLaunch(GgmlType type, int columns)
    {
        var random = new Random(columns + (int)type);
        int[] rowCounts = [7, 3, 5];
        float[] x = RandomValues(random, columns);
        using var input = accelerator.Allocate1D(x);
        var matrices = new List<(DeviceMatrix Device, float[] Dense, MemoryBuffer1D<float, Stride1D.Dense> Output)>();
        try
        {
            foreach (int rows in rowCounts)
            {
                var (bytes, dense) = RandomMatrix(random, type, rows, columns);
                matrices.Add((Upload(type, rows, columns, bytes), dense, accelerator.Allocate1D<float>(rows)));
            }
            kernels.MatVec(accelerator.DefaultStream, input.View, matrices[0].Device, matrices[0].Output.View,
                matrices[1].Device, matrices[1].Output.View, matrices[2].Device, matrices[2].Output.View);
            for (int m = 0; m < matrices.Count; m++)
            {
                AssertDot(matrices[m].Dense, x, rowCounts[m], columns, matrices[m].Output.GetAsArray1D(), $"{type} matrix {m}");
            }
        }
        finally
        {
            foreach (var (device, _, output) in matrices)
            {
                device.Dispose();
                output.Dispose();
            }
        }
    }

    [Theory]
    [InlineData(GgmlType.F32, 13, 67, 6)]
    [InlineData(GgmlType.F16, 9, 45, 11)]
    [InlineData(GgmlType.Q8_0, 10, 96, 5)]
    [InlineData(GgmlType.Q4_0, 17, 64, 9)]
    public void TiledProductCoversPartialTiles(GgmlType type, int rows, int columns, int tokens)
    {
        var random = new Random(rows + columns + tokens);
        var (bytes, dense) = RandomMatrix(random, type, rows, columns);
        float[] x = RandomValues(random, tokens * columns);
        using var device = Upload(type, rows, columns, bytes);
        using var input = accelerator.Allocate1D(x);
        // Rows of rows + 3 values starting at offset 2: the product writes only its own columns of them.
        int stride = rows + 3;
        using var output = accelerator.Allocate1D<float>(2 + tokens * stride);
        output.MemSet(accelerator.DefaultStream, 0);
        kernels.MatMul(accelerator.DefaultStream, device, input.View, output.View, tokens, yOffset: 2, yStride: stride);
        float[] actual = output.GetAsArray1D();
        for (int t = 0; t < tokens; t++)
        {
            AssertDot(dense, x.AsSpan(t * columns, columns).ToArray(), rows, columns,
                actual.AsSpan(2 + t * stride, rows).ToArray(), $"{type} {rows}x{columns}, token {t}");
            for (int pad = rows; pad < stride && 2 + t * stride + pad < actual.Length; pad++)
            {
                Assert.Equal(0f, actual[2 + t * stride + pad]);
            }
        }
    }

    /// <summary>
    /// Products spanning whole tiles and whole column steps as well as their edges, the last tiles and step partial.
    /// The shared accelerator's groups of two threads stage most of each step directly (beyond the 8 registers per
    /// thread, TR = 2·TC); a second CPU accelerator with groups of 256 gives the GPU's layout (TR = TC = 16, every staged element in registers).
    /// </summary>
    [Theory]
    [InlineData(GgmlType.F16, false)]
    [InlineData(GgmlType.Q4_0, false)]
    [InlineData(GgmlType.F16, true)]
    [InlineData(GgmlType.Q4_0, true)]
    public void TiledProductCoversWholeAndPartialTiles(GgmlType type, bool squareGroups)
    {
        using var context = squareGroups ? Context.Create(builder => builder.CPU(new CPUDevice(32, 8, 1))) : null;
        using var ownAccelerator = context?.GetDevices<CPUDevice>()[0].CreateAccelerator(context);
        var target = ownAccelerator ?? accelerator;
        var targetKernels = ownAccelerator is null ? kernels : new IlgpuKernels(ownAccelerator);
        Assert.Equal(squareGroups ? 256 : 2, targetKernels.TileGroupSize);

        var (tileRows, tileTokens) = MatMulKernels.TileOf(targetKernels.TileGroupSize);
        int rows = 2 * tileRows + 3;
        int columns = type == GgmlType.F16 ? 3 * MatMulKernels.KStep + 17 : 4 * MatMulKernels.KStep;
        int tokens = tileTokens + 5;
        var random = new Random(rows * 7 + tokens);
        var (bytes, dense) = RandomMatrix(random, type, rows, columns);
        float[] x = RandomValues(random, tokens * columns);
        using var device = new DeviceMatrix(type, rows, columns, GgmlTypeInfo.RowBytes(type, columns), target.Allocate1D(bytes));
        using var input = target.Allocate1D(x);
        using var output = target.Allocate1D<float>(tokens * rows);
        output.MemSet(target.DefaultStream, 0);
        targetKernels.MatMul(target.DefaultStream, device, input.View, output.View, tokens);
        float[] actual = output.GetAsArray1D();
        for (int t = 0; t < tokens; t++)
        {
            AssertDot(dense, x.AsSpan(t * columns, columns).ToArray(), rows, columns,
                actual.AsSpan(t * rows, rows).ToArray(), $"{type} {rows}x{columns}, token {t}, group {targetKernels.TileGroupSize}");
        }
    }

    [Theory]
    [InlineData(GgmlType.F16, 7, 64, true)]
    [InlineData(GgmlType.Q8_0, 9, 96, false)]
    [InlineData(GgmlType.Q4_K, 3, 256, false)]
    public void GateUpAndSwiGluShareOneLaunch(GgmlType type, int rows, int columns, bool round)
    {
        var random = new Random(rows * 31 + columns);
        var (gateBytes, gateDense) = RandomMatrix(random, type, rows, columns);
        var (upBytes, upDense) = RandomMatrix(random, type, rows, columns);
        float[] x = RandomValues(random, columns);
        using var gate = Upload(type, rows, columns, gateBytes);
        using var up = Upload(type, rows, columns, upBytes);
        using var input = accelerator.Allocate1D(x);
        using var output = accelerator.Allocate1D<float>(rows);
        Assert.True(kernels.TryMatVecSwiGlu(accelerator.DefaultStream, input.View, gate, up, output.View, round));
        float[] actual = output.GetAsArray1D();
        for (int r = 0; r < rows; r++)
        {
            double g = 0, u = 0, magnitude = 0;
            for (int c = 0; c < columns; c++)
            {
                g += (double)gateDense[r * columns + c] * x[c];
                u += (double)upDense[r * columns + c] * x[c];
                magnitude += Math.Abs((double)gateDense[r * columns + c] * x[c]) + Math.Abs((double)upDense[r * columns + c] * x[c]);
            }
            double expected = g / (1 + Math.Exp(-g)) * u;
            if (round)
            {
                Assert.Equal((float)(Half)actual[r], actual[r]);
            }
            // Float summation of both dots (their product), plus half's relative step when rounded.
            double tolerance = 1e-5 * Math.Max(1.0, magnitude * magnitude) + (round ? Math.Abs(expected) / 1024 : 0);
            Assert.True(Math.Abs(actual[r] - expected) <= tolerance, $"{type} row {r}: device {actual[r]} vs {expected}");
        }
    }

    [Fact]
    public void GateAndUpOfDifferentLayoutsAreNotFused()
    {
        var random = new Random(9);
        using var gate = Upload(GgmlType.Q8_0, 2, 32, RandomMatrix(random, GgmlType.Q8_0, 2, 32).Bytes);
        using var up = Upload(GgmlType.Q4_0, 2, 32, RandomMatrix(random, GgmlType.Q4_0, 2, 32).Bytes);
        using var input = accelerator.Allocate1D<float>(32);
        using var output = accelerator.Allocate1D<float>(2);
        Assert.False(kernels.TryMatVecSwiGlu(accelerator.DefaultStream, input.View, gate, up, output.View, round: false));
    }

    /// <summary>The shared-memory reduction (OpenCL devices without sub-groups), with one and with two lanes per row.</summary>
    [Theory]
    [InlineData(GgmlType.F16, 1)]
    [InlineData(GgmlType.F16, 2)]
    [InlineData(GgmlType.Q8_0, 1)]
    [InlineData(GgmlType.Q4_K, 2)]
    public void SharedMemoryReductionGivesTheSameProduct(GgmlType type, int lanes)
    {
        const int columns = 256;
        int[] rowCounts = [5, 2, 4]; // 11 rows: with two rows per group the last group has a thread past the end
        var random = new Random(lanes * 7 + (int)type);
        float[] x = RandomValues(random, columns);
        var (bytes0, dense0) = RandomMatrix(random, type, rowCounts[0], columns);
        var (bytes1, dense1) = RandomMatrix(random, type, rowCounts[1], columns);
        var (bytes2, dense2) = RandomMatrix(random, type, rowCounts[2], columns);
        using var w0 = Upload(type, rowCounts[0], columns, bytes0);
        using var w1 = Upload(type, rowCounts[1], columns, bytes1);
        using var w2 = Upload(type, rowCounts[2], columns, bytes2);
        using var input = accelerator.Allocate1D(x);
        using var y0 = accelerator.Allocate1D<float>(rowCounts[0]);
        using var y1 = accelerator.Allocate1D<float>(rowCounts[1]);
        using var y2 = accelerator.Allocate1D<float>(rowCounts[2]);
        var shape = new MatVecShape
        {
            Lanes = lanes, Rows0 = rowCounts[0], Rows1 = rowCounts[1], Rows2 = rowCounts[2], Columns = columns, RowBytes = w0.RowBytes,
        };
        int group = kernels.GroupSize;
        int rowsPerGroup = group / lanes;
        int groups = (rowCounts.Sum() + rowsPerGroup - 1) / rowsPerGroup;
        var config = new KernelConfig(groups, group);
        switch (type)
        {
            case GgmlType.F16:
                accelerator.LoadKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatVecShape>(
                    MatVecKernels.MatVecShared<F16Device>)(accelerator.DefaultStream, config, w0.View, w1.View, w2.View, input.View, y0.View, y1.View, y2.View, shape);
                break;
            case GgmlType.Q8_0:
                accelerator.LoadKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatVecShape>(
                    MatVecKernels.MatVecShared<Q8_0Device>)(accelerator.DefaultStream, config, w0.View, w1.View, w2.View, input.View, y0.View, y1.View, y2.View, shape);
                break;
            default:
                accelerator.LoadKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatVecShape>(
                    MatVecKernels.MatVecShared<Q4_KDevice>)(accelerator.DefaultStream, config, w0.View, w1.View, w2.View, input.View, y0.View, y1.View, y2.View, shape);
                break;
        }
        AssertDot(dense0, x, rowCounts[0], columns, y0.GetAsArray1D(), $"{type} lanes {lanes} matrix 0");
        AssertDot(dense1, x, rowCounts[1], columns, y1.GetAsArray1D(), $"{type} lanes {lanes} matrix 1");
        AssertDot(dense2, x, rowCounts[2], columns, y2.GetAsArray1D(), $"{type} lanes {lanes} matrix 2");
    }

    [Fact]
    public void MatricesOfDifferentWidthsAreRefused()
    {
        var random = new Random(3);
        using var narrow = Upload(GgmlType.F32, 2, 4, RandomMatrix(random, GgmlType.F32, 2, 4).Bytes);
        using var wide = Upload(GgmlType.F32, 2, 8, RandomMatrix(random, GgmlType.F32, 2, 8).Bytes);
        using var input = accelerator.Allocate1D<float>(8);
        using var output = accelerator.Allocate1D<float>(4);
        Assert.Throws<ArgumentException>(() =>
            kernels.MatVec(accelerator.DefaultStream, input.View, narrow, output.View.SubView(0, 2), wide, output.View.SubView(2, 2)));
    }

    private static void AssertDot(float[] dense, float[] x, int rows, int columns, float[] actual, string what)
    {
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            double magnitude = 0;
            for (int c = 0; c < columns; c++)
            {
                sum += (double)dense[r * columns + c] * x[c];
                magnitude += Math.Abs((double)dense[r * columns + c] * x[c]);
            }
            Assert.True(Math.Abs(actual[r] - sum) <= 1e-5 * Math.Max(1.0, magnitude),
                $"{what}: row {r} device {actual[r]} vs dequantized dot {sum}");
        }
    }

    /// <summary>A random matrix in <paramref name="type"/>'s layout and its dequantized values (what the device must use).</summary>
    private static (byte[] Bytes, float[] Dense) RandomMatrix(Random random, GgmlType type, int rows, int columns)
    {
        float[] values = RandomValues(random, rows * columns);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
        byte[] bytes = new byte[rows * rowBytes];
        float[] dense = new float[rows * columns];
        for (int r = 0; r < rows; r++)
        {
            Quantizer.QuantizeRow(type, values.AsSpan(r * columns, columns), bytes.AsSpan(r * rowBytes, rowBytes));
        }
        fixed (byte* data = bytes)
        {
            var matrix = new WeightMatrix(data, type, rows, columns);
            for (int r = 0; r < rows; r++)
            {
                MatrixKernels.GetRow(matrix, r, dense.AsSpan(r * columns, columns));
            }
        }
        return (bytes, dense);
    }

    private DeviceMatrix Upload(GgmlType type, int rows, int columns, byte[] bytes) =>
        new(type, rows, columns, GgmlTypeInfo.RowBytes(type, columns), accelerator.Allocate1D(bytes));

    private static float[] RandomValues(Random random, int count) =>
        Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
}
