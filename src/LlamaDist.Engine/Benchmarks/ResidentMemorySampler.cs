using Microsoft.Win32.SafeHandles;

namespace LlamaDist.Engine.Benchmarks;

/// <summary>
/// Samples the resident set every few milliseconds on a background thread between construction and disposal and
/// keeps the peak: what the process held while a test ran, not what it held before or after.
/// </summary>
internal sealed class ResidentMemorySampler : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(5);
    private readonly ManualResetEventSlim stop = new();
    private readonly Thread thread;
    private long peak;

    public ResidentMemorySampler()
    {
        peak = ResidentMemory.CurrentBytes();
        thread = new Thread(Sample) { IsBackground = true, Name = "resident memory sampler" };
        thread.Start();
    }

    /// <summary>The largest resident set seen so far.</summary>
    public long PeakBytes => Interlocked.Read(ref peak);

    public void Dispose()
    {
        stop.Set();
        thread.Join();
        Record(ResidentMemory.CurrentBytes());
        stop.Dispose();
    }

    private void Sample()
    {
        SafeFileHandle? statm = null;
        try
        {
            if (OperatingSystem.IsLinux()) statm = File.OpenHandle("/proc/self/statm");
            do
            {
                Record(statm is null ? ResidentMemory.CurrentBytes() : ResidentMemory.ReadStatm(statm));
            }
            while (!stop.Wait(Interval));
        }
        finally
        {
            statm?.Dispose();
        }
    }

    private void Record(long bytes)
    {
        long seen;
        while (bytes > (seen = Interlocked.Read(ref peak)) && Interlocked.CompareExchange(ref peak, bytes, seen) != seen)
        {
        }
    }
}
