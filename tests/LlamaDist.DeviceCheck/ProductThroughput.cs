using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
using LlamaDist.Core.Gguf;
using LlamaDist.Gpu;

namespace LlamaDist.DeviceCheck;

/// <summary>
/// The product kernels' speed on their own, beside the model benchmarks, so a slow decode or prompt can be told
/// apart from slow products: the F16 matrix × vector kernel (decode) in GB/s of weights and the tiled F16
/// matrix × matrix kernel (prompts) in GFLOP/s. Short mode (ILGPU's CPU accelerator) uses small shapes.
/// </summary>
internal static class ProductThroughput
{
    public static void Run(IlgpuBackend backend, Report report, bool isShort)
    {
        string label = backend.Kind.ToString();
        int vectorRows = isShort ? 256 : 4096, vectorColumns = isShort ? 256 : 4096;
        double vectorSeconds = Time(backend, vectorRows, vectorColumns, 1);
        report.Add("backend", $"f16 matvec {vectorRows}x{vectorColumns}", label, 2.0 * vectorRows * vectorColumns / vectorSeconds / 1e9, "GB/s", "info",
            $"{vectorSeconds * 1e6:F1} us per product");

        int rows = isShort ? 64 : 2048, columns = isShort ? 64 : 2048, tokens = isShort ? 16 : 512;
        double seconds = Time(backend, rows, columns, tokens);
        report.Add("backend", $"f16 matmul {rows}x{columns} x {tokens} tokens", label, 2.0 * rows * columns * tokens / seconds / 1e9, "GFLOP/s", "info",
            $"{seconds * 1e3:F2} ms per product");
    }

    /// <summary>Seconds per product of an F16 [rows, columns] matrix with <paramref name="tokens"/> activation rows, after one warm-up.</summary>
    private static double Time(IlgpuBackend backend, int rows, int columns, int tokens)
    {
        var accelerator = backend.Accelerator;
        // Zero weights: the time does not depend on the values. The matrix owns (and disposes) its buffer.
        using var weights = new DeviceMatrix(GgmlType.F16, rows, columns, columns * 2L, accelerator.Allocate1D<byte>((long)rows * columns * 2));
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
