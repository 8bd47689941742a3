using System.Diagnostics;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Worker.State;

/// <summary>
/// The figure a worker reports for planning: a Q8_0 matrix-vector product about the size of a 1B model's
/// feed-forward matrix (4096 x 2048, 8.9 MB — larger than a typical L2, so it streams from cache/memory as
/// decode does), timed over a few repetitions after a warm-up. Decode is memory bound, so the planner weighs
/// stages by weight bytes per second; GFLOP/s is reported beside it.
/// </summary>
public static class ThroughputProbe
{
    public static (double GigaFlops, double BytesPerSecond) Measure(ComputeThreads threads)
    {
        const int rows = 4096, columns = 2048, repetitions = 8;
        var type = GgmlType.Q8_0;
        long rowBytes = GgmlTypeInfo.RowBytes(type, columns);
        var weights = GC.AllocateUninitializedArray<byte>(checked((int)(rows * rowBytes)), pinned: true);
        var random = new Random(1234);
        var row = new float[columns];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                row[c] = (float)(random.NextDouble() * 2 - 1);
            }
            Quantizer.QuantizeRow(type, row, weights.AsSpan((int)(r * rowBytes), (int)rowBytes));
        }
        var x = new float[columns];
        Array.Fill(x, 0.5f);
        var y = new float[rows];
        unsafe
        {
            fixed (byte* data = weights)
            {
                var matrix = new WeightMatrix(data, type, rows, columns);
                MatrixKernels.MatVec(threads, matrix, x, y);
                var clock = Stopwatch.StartNew();
                for (int i = 0; i < repetitions; i++)
                {
                    MatrixKernels.MatVec(threads, matrix, x, y);
                }
                double seconds = Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
                return (2.0 * rows * columns * repetitions / seconds / 1e9, (double)weights.Length * repetitions / seconds);
            }
        }
    }
}
