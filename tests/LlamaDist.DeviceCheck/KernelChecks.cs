using ILGPU;
using ILGPU.Runtime;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Numerics;
using LlamaDist.Core.Quantization;
using LlamaDist.Gpu;

namespace LlamaDist.DeviceCheck;

/// <summary>
/// The device's matrix products against the CPU engine's dequantized weights (a double-precision reference: only
/// the device's float summation differs), per type and shape, plus RMSNorm and argmax against VectorMath.
/// </summary>
internal static unsafe class KernelChecks
{
    /// <summary>Largest |device − reference| allowed, relative to the largest |reference|.</summary>
    private const double Tolerance = 1e-4;

    public static void Run(IlgpuBackend backend, Report report, bool isShort)
    {
        var shapes = isShort
            ? new[] { (Rows: 33, Columns: 512, Tokens: 5) }
            : new[] { (Rows: 4096, Columns: 4096, Tokens: 1), (Rows: 1024, Columns: 2048, Tokens: 64), (Rows: 37, Columns: 768, Tokens: 7) };
        string kind = backend.Kind.ToString();
        foreach (var type in new[] { GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q5_K })
        {
            foreach (var (rows, columns, tokens) in shapes)
            {
                string name = $"matmul {type} {rows}x{columns} x {tokens} tokens";
                try
                {
                    double error = MatMulError(backend, type, rows, columns, tokens);
                    report.Add("kernel", name, kind, error, "rel. error", error <= Tolerance ? "ok" : "FAIL", $"tolerance {Tolerance:G2}");
                }
                catch (Exception exception)
                {
                    report.Add("kernel", name, kind, null, "", "FAIL", $"{exception.GetType().Name}: {exception.Message}");
                }
            }
        }
        Check(report, "rmsnorm 8x2048", kind, () => RmsNormError(backend, 8, 2048));
        Check(report, "argmax 32000", kind, () => ArgMaxError(backend, 32000));
    }

    private static void Check(Report report, string name, string kind, Func<double> run)
    {
        try
        {
            double error = run();
            report.Add("kernel", name, kind, error, "rel. error", error <= Tolerance ? "ok" : "FAIL", $"tolerance {Tolerance:G2}");
        }
        catch (Exception exception)
        {
            report.Add("kernel", name, kind, null, "", "FAIL", $"{exception.GetType().Name}: {exception.Message}");
        }
    }

    private static double MatMulError(IlgpuBackend backend, GgmlType type, int rows, int columns, int tokens)
    {
        var accelerator = backend.Accelerator;
        var random = new Random(rows + columns + tokens);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
        var bytes = new byte[(long)rows * rowBytes];
        var dense = new float[columns];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                dense[c] = (float)(random.NextDouble() * 2 - 1);
            }
            Quantizer.QuantizeRow(type, dense, bytes.AsSpan(r * rowBytes, rowBytes));
        }
        var x = new float[tokens * columns];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)(random.NextDouble() * 2 - 1);
        }
        bool native = IlgpuKernels.NativeTypes.Contains(type);
        var reference = new double[tokens * rows];
        fixed (byte* data = bytes)
        {
            var matrix = new WeightMatrix(data, type, rows, columns);
            var row = new float[columns];
            byte[] upload = native ? bytes : new byte[rows * columns * 2L];
            for (int r = 0; r < rows; r++)
            {
                MatrixKernels.GetRow(matrix, r, row);
                for (int c = 0; c < columns; c++)
                {
                    if (!native)
                    {
                        // The upload converts this type to F16: the device sees these weights rounded to half.
                        var half = (System.Half)row[c];
                        row[c] = (float)half;
                        BitConverter.TryWriteBytes(upload.AsSpan((r * columns + c) * 2, 2), half);
                    }
                }
                for (int t = 0; t < tokens; t++)
                {
                    double sum = 0;
                    for (int c = 0; c < columns; c++)
                    {
                        float activation = x[t * columns + c];
                        sum += row[c] * (double)(type == GgmlType.F16 || !native ? (float)(System.Half)activation : activation);
                    }
                    reference[t * rows + r] = sum;
                }
            }

            var deviceType = native ? type : GgmlType.F16;
            using var weights = new DeviceMatrix(deviceType, rows, columns, native ? rowBytes : columns * 2L, accelerator.Allocate1D(upload));
            using var input = accelerator.Allocate1D(x);
            using var output = accelerator.Allocate1D<float>(tokens * rows);
            var stream = accelerator.DefaultStream;
            if (deviceType == GgmlType.F16)
            {
                backend.Kernels.RoundToHalf(stream, x.Length, input.View, input.View);
            }
            backend.Kernels.MatMul(stream, weights, input.View, output.View, tokens);
            stream.Synchronize();
            float[] actual = output.GetAsArray1D();
            double scale = reference.Max(Math.Abs), worst = 0;
            for (int i = 0; i < actual.Length; i++)
            {
                worst = Math.Max(worst, Math.Abs(actual[i] - reference[i]));
            }
            return worst / Math.Max(scale, 1e-30);
        }
    }

    private static double RmsNormError(IlgpuBackend backend, int rows, int width)
    {
        var random = new Random(width);
        var x = Enumerable.Range(0, rows * width).Select(_ => (float)(random.NextDouble() * 6 - 3)).ToArray();
        var weight = Enumerable.Range(0, width).Select(_ => (float)random.NextDouble()).ToArray();
        var accelerator = backend.Accelerator;
        using var source = accelerator.Allocate1D(x);
        using var weights = accelerator.Allocate1D(weight);
        using var destination = accelerator.Allocate1D<float>(x.Length);
        backend.Kernels.RmsNorm(accelerator.DefaultStream, source.View, weights.View, destination.View, rows, width, 1e-5f);
        accelerator.DefaultStream.Synchronize();
        float[] actual = destination.GetAsArray1D();
        var expected = new float[width];
        double worst = 0;
        for (int r = 0; r < rows; r++)
        {
            VectorMath.RmsNorm(x.AsSpan(r * width, width), weight, 1e-5f, expected);
            for (int i = 0; i < width; i++)
            {
                worst = Math.Max(worst, Math.Abs(expected[i] - actual[r * width + i]) / Math.Max(1.0, Math.Abs(expected[i])));
            }
        }
        return worst;
    }

    private static double ArgMaxError(IlgpuBackend backend, int count)
    {
        var random = new Random(count);
        var values = Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 20 - 10)).ToArray();
        var accelerator = backend.Accelerator;
        using var buffer = accelerator.Allocate1D(values);
        using var result = accelerator.Allocate1D<int>(1);
        backend.Kernels.ArgMax(accelerator.DefaultStream, buffer.View, count, result.View);
        accelerator.DefaultStream.Synchronize();
        return result.GetAsArray1D()[0] == VectorMath.ArgMax(values) ? 0 : 1;
    }
}
