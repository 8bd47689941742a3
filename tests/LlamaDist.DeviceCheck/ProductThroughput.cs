using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
using LlamaDist.Core.Gguf;
using LlamaDist.Gpu;

namespace LlamaDist.DeviceCheck;

/// <summary>
/// The product kernels' speed on their own, beside the model benchmarks, so a slow decode or prompt can be told
/// apart from slow products: the F16, Q8_0 and Q4_0 matrix × vector kernels (decode) in GB/s of weights and the tiled F16
/// matrix × matrix kernel (prompts) in GFLOP/s. Short mode (ILGPU's CPU accelerator) uses small shapes.
/// </summary>
internal static class ProductThroughput
{
    public static void Run(IlgpuBackend backend, Report report, bool isShort)
    {
        string label = backend.Kind.ToString();
        int vectorRows = isShort ? 256 : 4096, vectorColumns = isShort ? 256 : 4096;
        foreach (var type in new[] { GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0 })
        {
            long bytes = vectorRows * GgmlTypeInfo.RowBytes(type, vectorColumns);
            double vectorSeconds = Time(backend, type, vectorRows, vectorColumns, 1);
            report.Add("backend", $"{type.ToString().ToLowerInvariant()} matvec {vectorRows}x{vectorColumns}", label, bytes / vectorSeconds / 1e9, "GB/s", "info",
                $"{vectorSeconds * 1e6:F1} us per product");
        }
        report.Add("backend", "f16 tensor cores", label, null, "", "info", backend.Kernels.TensorCoreStatus);
        double launch = LaunchSeconds(backend);
        report.Add("backend", "launch, one-element add", label, launch * 1e6, "us", "info",
            "time per launch of back-to-back tiny kernels on one stream: the floor under each of a decode step's launches");

        int rows = isShort ? 64 : 2048, columns = isShort ? 64 : 2048, tokens = isShort ? 16 : 512;
        double seconds = Time(backend, GgmlType.F16, rows, columns, tokens);
        report.Add("backend", $"f16 matmul {rows}x{columns} x {tokens} tokens", label, 2.0 * rows * columns * tokens / seconds / 1e9, "GFLOP/s", "info",
            $"{seconds * 1e3:F2} ms per product");
    }

    /// <summary>Seconds per launch of a one-element add, launched back to back on one stream (after a warm-up).</summary>
    private static double LaunchSeconds(IlgpuBackend backend)
    {
        using var values = backend.Accelerator.Allocate1D<float>(1);
        values.MemSetToZero();
        var stream = backend.Accelerator.DefaultStream;
        backend.Kernels.Add(stream, 1, values.View, values.View);
        stream.Synchronize();
        const int launches = 2000;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < launches; i++)
        {
            backend.Kernels.Add(stream, 1, values.View, values.View);
        }
        stream.Synchronize();
        return clock.Elapsed.TotalSeconds / launches;
    }

    /// <summary>Seconds per product of a [rows, columns] matrix of <paramref name="type"/> with <paramref name="tokens"/> activation rows, after one warm-up.</summary>
    private static double Time(IlgpuBackend backend, GgmlType type, int rows, int columns, int tokens)
    {
        var accelerator = backend.Accelerator;
        // Zero weights: the time does not depend on the values. The matrix owns (and disposes) its buffer.
        long rowBytes = GgmlTypeInfo.RowBytes(type, columns);
        using var weights = new DeviceMatrix(type, rows, columns, rowBytes, accelerator.Allocate1D<byte>(rows * rowBytes));
        weights.Buffer.MemSetToZero();
        using var x = accelerator.Allocate1D<float>((long)tokens * columns);
        using var y = accelerator.Allocate1D<float>((long)tokens * rows);
        x.MemSetToZero();
        var stream = accelerator.DefaultStream;
        backend.Kernels.MatMul(stream, weights, x.View, y.View, tokens);
        stream.Synchronize();
        var clock = Stopwatch.StartNew();
        int runs = 0;
        while (clock.Elapsed.TotalSeconds < 0.2 || runs < 3)
        {
            backend.Kernels.MatMul(stream, weights, x.View, y.View, tokens);
            runs++;
            if (runs % 8 == 0)
            {
                stream.Synchronize();
            }
        }
        stream.Synchronize();
        return clock.Elapsed.TotalSeconds / runs;
    }
}
