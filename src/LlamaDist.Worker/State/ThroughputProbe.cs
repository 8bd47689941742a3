using System.Diagnostics;
using System.Runtime.InteropServices;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Worker.State;

/// <summary>
/// The figure a worker reports for planning: how fast its compute threads stream quantized weights through a
/// matrix-vector product, which is what a decoded token costs a stage. The matrix is Q8_0, 3 840 columns wide, and
/// as many rows as the working set asks for. One warm-up pass, then timed ones for at least 200 ms: the rate the
/// worker sustains. The planner weighs stages by these bytes per second; GFLOP/s is reported beside it.
/// <para>Two sizes. At start-up a quick 64 MiB (<see cref="StartupWorkingSetBytes"/>): the default layer plan
/// only compares workers with each other. For -Split Auto, which weighs compute against link time, the
/// coordinator asks again with <see cref="SustainedWorkingSetBytes"/>: the 64 MiB matrix is partly served by the
/// last-level cache of large server parts. On a 2-core AMD EPYC VM it read 52-82 GB/s on 2 threads, where
/// 128-318 MiB read 40-43 and a 1 GiB chain of TinyLlama-shaped layers 36-39; decoding that model streamed
/// about 47 GB/s there.</para>
/// <para>The runtime compiles the kernels quickly at first and fully optimised only after they have run a while,
/// in the background: the first probe in a process runs them, on a slice and then on the whole matrix, for most
/// of a second before it times anything (timing earlier reported two threads no faster than one).</para>
/// </summary>
public static class ThroughputProbe
{
    /// <summary>The start-up figure's matrix: 16 384 rows.</summary>
    public const long StartupWorkingSetBytes = 64L << 20;

    /// <summary>The figure -Split Auto plans with: several times the last-level cache of one core complex (32-96 MiB).</summary>
    public const long SustainedWorkingSetBytes = 256L << 20;

    private const int Columns = 3_840;
    private const int MinimumPasses = 3;
    private static readonly TimeSpan MeasuredTime = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// The sustained probe's timed span: long enough that probes started on several workers at once (-Split Auto
    /// measures them together for a tensor split) overlap for most of it although each first fills its matrix.
    /// </summary>
    public static readonly TimeSpan SustainedTime = TimeSpan.FromMilliseconds(500);
    private const int WarmUpRows = 512;
    private static readonly TimeSpan WarmUpTime = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan FirstProbeTime = TimeSpan.FromMilliseconds(500);
    private static int warmedUp;

    /// <summary>
    /// The sustained working set where memory allows: at most an eighth of <paramref name="availableBytes"/>,
    /// never below the start-up size.
    /// </summary>
    public static long SustainedWorkingSet(long availableBytes) =>
        Math.Clamp(availableBytes / 8, StartupWorkingSetBytes, SustainedWorkingSetBytes);

    public static unsafe (double GigaFlops, double BytesPerSecond) Measure(ComputeThreads threads, long workingSetBytes = StartupWorkingSetBytes,
        TimeSpan? measuredTime = null)
    {
        ArgumentNullException.ThrowIfNull(threads);
        var timed = measuredTime ?? MeasuredTime;
        const GgmlType type = GgmlType.Q8_0;
        long rowBytes = GgmlTypeInfo.RowBytes(type, Columns);
        int rows = (int)Math.Clamp(workingSetBytes / rowBytes, WarmUpRows, 1 << 20);
        long totalBytes = rows * rowBytes;
        byte* data = (byte*)NativeMemory.AlignedAlloc((nuint)totalBytes, 64);
        try
        {
            FillBlocks(data, totalBytes);
            var matrix = new WeightMatrix(data, type, rows, Columns);
            var x = new float[Columns];
            Array.Fill(x, 0.5f);
            var y = new float[rows];
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
            // Passes for at least the timed span (200 ms unless asked), the rate over all of them: what the worker
            // sustains, as a decode does. A worker that is busy with other work, or a CPU share limited in short
            // periods (a throttled container), shows it over that time; a single pass of a millisecond or two can
            // fall between.
            var clock = Stopwatch.StartNew();
            int passes = 0;
            do
            {
                MatrixKernels.MatVec(threads, matrix, x, y);
                passes++;
            }
            while (passes < MinimumPasses || clock.Elapsed < timed);
            double seconds = Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
            return (2.0 * rows * Columns * passes / seconds / 1e9, (double)totalBytes * passes / seconds);
        }
        finally
        {
            NativeMemory.AlignedFree(data);
        }
    }

    /// <summary>
    /// Valid Q8_0 blocks (34 bytes: f16 scale, 32 int8 quants): random quants, scale 1/127. One random mebibyte
    /// repeated: the kernel's speed does not depend on the values, and 256 MiB of random bytes would take a while.
    /// </summary>
    private static unsafe void FillBlocks(byte* data, long totalBytes)
    {
        const int randomBytes = 1 << 20;
        var pattern = new Span<byte>(data, (int)Math.Min(totalBytes, randomBytes));
        new Random(1234).NextBytes(pattern);
        for (long offset = pattern.Length; offset < totalBytes; offset += pattern.Length)
        {
            int length = (int)Math.Min(pattern.Length, totalBytes - offset);
            pattern[..length].CopyTo(new Span<byte>(data + offset, length));
        }
        ushort scale = BitConverter.HalfToUInt16Bits((Half)(1f / 127));
        for (long offset = 0; offset < totalBytes; offset += Q8_0Format.BlockBytes)
        {
            *(ushort*)(data + offset) = scale;
        }
    }
}
