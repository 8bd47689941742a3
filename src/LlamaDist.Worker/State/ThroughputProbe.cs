using System.Diagnostics;
using System.Runtime.InteropServices;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Worker.State;

/// <summary>
/// The figure a worker reports for planning: how fast its compute threads stream quantized weights through a
/// matrix-vector product, which is what a decoded token costs a stage. The matrix is a 64 MiB Q8_0 one
/// (16 384 x 3 840): larger than the last-level cache of most machines, so, as in decode, the weights come from
/// memory rather than from cache. One warm-up pass, then timed ones for at least 200 ms: the rate the worker sustains. The planner weighs stages by these
/// bytes per second; GFLOP/s is reported beside it.
/// <para>The runtime compiles the kernels quickly at first and fully optimised only after they have run a while,
/// in the background: the first probe in a process runs them, on a slice and then on the whole matrix, for most
/// of a second before it times anything (timing earlier reported two threads no faster than one).</para>
/// </summary>
public static class ThroughputProbe
{
    private const int Rows = 16_384;
    private const int Columns = 3_840;
    private const int MinimumPasses = 3;
    private static readonly TimeSpan MeasuredTime = TimeSpan.FromMilliseconds(200);
    private const int WarmUpRows = 512;
    private static readonly TimeSpan WarmUpTime = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan FirstProbeTime = TimeSpan.FromMilliseconds(500);
    private static int warmedUp;

    public static unsafe (double GigaFlops, double BytesPerSecond) Measure(ComputeThreads threads)
    {
        const GgmlType type = GgmlType.Q8_0;
        long rowBytes = GgmlTypeInfo.RowBytes(type, Columns);
        long totalBytes = Rows * rowBytes;
        byte* data = (byte*)NativeMemory.AlignedAlloc((nuint)totalBytes, 64);
        try
        {
            FillBlocks(data, totalBytes);
            var matrix = new WeightMatrix(data, type, Rows, Columns);
            var x = new float[Columns];
            Array.Fill(x, 0.5f);
            var y = new float[Rows];
            bool first = Interlocked.Exchange(ref warmedUp, 1) == 0;
            if (first)
            {
                var slice = new WeightMatrix(data, type, WarmUpRows, Columns);
                var warmUpClock = Stopwatch.StartNew();
                while (warmUpClock.Elapsed < WarmUpTime)
                {
                    MatrixKernels.MatVec(threads, slice, x, y);
                }
            }
            var warmUp = Stopwatch.StartNew();
            do
            {
                MatrixKernels.MatVec(threads, matrix, x, y);
            }
            while (first && warmUp.Elapsed < FirstProbeTime);
            // Passes for at least MeasuredTime, the rate over all of them: what the worker sustains, as a decode
            // does. A worker that is busy with other work, or a CPU share limited in short periods (a throttled
            // container), shows it over that time; a single pass of a millisecond or two can fall between.
            var clock = Stopwatch.StartNew();
            int passes = 0;
            do
            {
                MatrixKernels.MatVec(threads, matrix, x, y);
                passes++;
            }
            while (passes < MinimumPasses || clock.Elapsed < MeasuredTime);
            double seconds = Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
            return (2.0 * Rows * Columns * passes / seconds / 1e9, (double)totalBytes * passes / seconds);
        }
        finally
        {
            NativeMemory.AlignedFree(data);
        }
    }

    /// <summary>Valid Q8_0 blocks (34 bytes: f16 scale, 32 int8 quants): random quants, scale 1/127.</summary>
    private static unsafe void FillBlocks(byte* data, long totalBytes)
    {
        new Random(1234).NextBytes(new Span<byte>(data, checked((int)totalBytes)));
        ushort scale = BitConverter.HalfToUInt16Bits((Half)(1f / 127));
        for (long offset = 0; offset < totalBytes; offset += Q8_0Format.BlockBytes)
        {
            *(ushort*)(data + offset) = scale;
        }
    }
}
