using System.Collections.Concurrent;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>
/// Pinned compute threads (a worker's --cpu-affinity): each worker thread runs only on its own CPU, a caller runs
/// on the first while its pass lasts and on the whole set again afterwards; unpinned threads are left alone.
/// </summary>
public class ComputeThreadsPinningTests
{
    /// <summary>Records which CPU ran each index's thread, and takes long enough that the worker thread joins.</summary>
    private readonly struct RecordingWork(ConcurrentDictionary<int, int> cpuByThread) : IRangeWork
    {
        public void Execute(int start, int end)
        {
            for (int i = start; i < end; i++)
            {
                Thread.SpinWait(2000);
                cpuByThread[Environment.CurrentManagedThreadId] = Thread.GetCurrentProcessorId();
            }
        }
    }

    private static int[] CurrentThreadCpus()
    {
        var mask = new byte[ThreadAffinity.LinuxMaskBytes];
        Assert.Equal(0, ThreadAffinity.LinuxGet(0, mask.Length, mask));
        return Enumerable.Range(0, ThreadAffinity.MaxCpu + 1).Where(cpu => (mask[cpu >> 3] & (1 << (cpu & 7))) != 0).ToArray();
    }

    [SkippableFact]
    public void Pinned_threads_run_on_their_own_cpus_and_the_caller_returns_to_the_whole_set()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Pinning is checked here through Linux's sched_getaffinity.");
        var available = CurrentThreadCpus();
        Skip.If(available.Length < 2, $"This process may run on {available.Length} CPU; pinning two threads needs two.");
        using var threads = new ComputeThreads(2, available);
        Assert.True(threads.Pinned);

        var cpuByThread = new ConcurrentDictionary<int, int>();
        int caller = Environment.CurrentManagedThreadId;
        // The worker thread may still be waking when the caller has taken every chunk: a few calls until it joined.
        for (int attempt = 0; attempt < 50 && cpuByThread.Count < 2; attempt++)
        {
            using (threads.PinCaller())
            {
                Assert.Equal([available[0]], CurrentThreadCpus());
                threads.For(256, new RecordingWork(cpuByThread));
            }
            Assert.Equal(available, CurrentThreadCpus());
        }

        Assert.Equal(2, cpuByThread.Count);
        Assert.Equal(available[0], cpuByThread[caller]);
        Assert.Equal(available[1], cpuByThread.Single(entry => entry.Key != caller).Value);
    }

    [Fact]
    public void Without_a_cpu_per_thread_nothing_is_pinned_and_the_caller_is_left_alone()
    {
        using var unpinned = new ComputeThreads(2);
        using var tooFew = new ComputeThreads(3, [0, 0, 1]);   // two distinct CPUs for three threads
        Assert.False(unpinned.Pinned);
        Assert.False(tooFew.Pinned);
        var before = OperatingSystem.IsLinux() ? CurrentThreadCpus() : [];
        using (tooFew.PinCaller())
        {
            if (OperatingSystem.IsLinux())
            {
                Assert.Equal(before, CurrentThreadCpus());
            }
        }
        var hits = new int[100];
        tooFew.For(hits.Length, (start, end) =>
        {
            for (int i = start; i < end; i++)
            {
                Interlocked.Increment(ref hits[i]);
            }
        });
        Assert.All(hits, count => Assert.Equal(1, count));
    }
}
