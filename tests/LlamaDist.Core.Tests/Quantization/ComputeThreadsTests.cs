using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public class ComputeThreadsTests
{
    private readonly struct CountingWork(int[] hits) : IRangeWork
    {
        public void Execute(int start, int end)
        {
            for (int i = start; i < end; i++) Interlocked.Increment(ref hits[i]);
        }
    }

    private readonly struct ThrowingWork(int failAt) : IRangeWork
    {
        public void Execute(int start, int end)
        {
            if (start <= failAt && failAt < end) throw new InvalidOperationException($"boom at {failAt}");
            Thread.SpinWait(100);
        }
    }

    // A ref struct holding spans: allowed by the 'allows ref struct' constraint, no boxing.
    private readonly ref struct SquareWork(ReadOnlySpan<int> input, Span<long> output) : IRangeWork
    {
        private readonly ReadOnlySpan<int> _input = input;
        private readonly Span<long> _output = output;

        public void Execute(int start, int end)
        {
            for (int i = start; i < end; i++) _output[i] = (long)_input[i] * _input[i];
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void EveryIndexRunsExactlyOnce(int threadCount)
    {
        using var threads = new ComputeThreads(threadCount);
        Assert.Equal(threadCount, threads.ThreadCount);
        foreach (int count in new[] { 0, 1, 2, 7, 100, 10_007 })
        {
            var hits = new int[count];
            threads.For(count, new CountingWork(hits));
            Assert.All(hits, h => Assert.Equal(1, h));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RefStructWorkWritesItsRanges(int threadCount)
    {
        using var threads = new ComputeThreads(threadCount);
        int[] input = Enumerable.Range(0, 5000).ToArray();
        var output = new long[5000];
        threads.For(input.Length, new SquareWork(input, output));
        for (int i = 0; i < input.Length; i++) Assert.Equal((long)i * i, output[i]);
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 0)]
    [InlineData(2, 999)]
    [InlineData(3, 500)]
    public void ExceptionOnAnyThreadSurfacesOnTheCallerAndThePoolStaysUsable(int threadCount, int failAt)
    {
        using var threads = new ComputeThreads(threadCount);
        var error = Assert.Throws<InvalidOperationException>(() => threads.For(1000, new ThrowingWork(failAt)));
        Assert.Equal($"boom at {failAt}", error.Message);

        var hits = new int[1000];
        threads.For(hits.Length, new CountingWork(hits));
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void ExceptionThrownOnAWorkerThreadIsRethrownOnTheCaller()
    {
        using var threads = new ComputeThreads(3);
        int callerThread = Environment.CurrentManagedThreadId;
        // Fails only off the calling thread; with 3 threads and 64 slow chunks a worker always takes one.
        var error = Assert.Throws<TimeoutException>(() => threads.For(64, (start, end) =>
        {
            Thread.Sleep(2);
            if (Environment.CurrentManagedThreadId != callerThread) throw new TimeoutException("worker failed");
        }));
        Assert.Equal("worker failed", error.Message);
    }

    [Fact]
    public void NestedForRunsInlineAndCompletes()
    {
        using var threads = new ComputeThreads(3);
        var hits = new int[40 * 50];
        threads.For(40, (outerStart, outerEnd) =>
        {
            for (int outer = outerStart; outer < outerEnd; outer++)
            {
                int row = outer;
                threads.For(50, (start, end) =>
                {
                    for (int i = start; i < end; i++) Interlocked.Increment(ref hits[row * 50 + i]);
                });
            }
        });
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void ManyBackToBackAndSpacedCallsAllComplete()
    {
        using var threads = new ComputeThreads(3);
        var hits = new int[97];
        for (int call = 0; call < 3000; call++)
        {
            threads.For(hits.Length, new CountingWork(hits));
            if (call % 1000 == 999) Thread.Sleep(30); // let the workers fall asleep, then wake them again
        }
        Assert.All(hits, h => Assert.Equal(3000, h));
    }

    /// <summary>Counts its indices in the call's own array, and counts the chunks the caller's thread took.</summary>
    private readonly struct CallerCountingWork(int[] hits, int callerThread, int[] callerChunks) : IRangeWork
    {
        public void Execute(int start, int end)
        {
            if (Environment.CurrentManagedThreadId == callerThread) Interlocked.Increment(ref callerChunks[0]);
            for (int i = start; i < end; i++) Interlocked.Increment(ref hits[i]);
            Thread.SpinWait(20);
        }
    }

    [Fact]
    public void WorkersWakingAfterTheCallerTookEveryChunkNeverTouchTheFinishedCall()
    {
        // Gaps around the workers' spin make them join some calls late or not at all: sleeps (they block), spins
        // of random length (some wake in time, some find the call closed). Each call gets a fresh array; a worker
        // that ran chunks of a call after it returned would leave a count above one in it, seen after a pause.
        using var threads = new ComputeThreads(3);
        var random = new Random(7);
        var callerChunks = new int[1];
        var calls = new List<int[]>();
        for (int call = 0; call < 3000; call++)
        {
            var hits = new int[41];
            threads.For(hits.Length, new CallerCountingWork(hits, Environment.CurrentManagedThreadId, callerChunks));
            Assert.All(hits, h => Assert.Equal(1, h));
            calls.Add(hits);
            switch (call % 3)
            {
                case 0: Thread.Sleep(random.Next(0, 2)); break;
                case 1: Thread.SpinWait(random.Next(0, 20_000)); break;
            }
        }
        Thread.Sleep(50);
        Assert.All(calls, hits => Assert.All(hits, h => Assert.Equal(1, h)));
        Assert.True(callerChunks[0] > 0);
    }

    [Fact]
    public void ConcurrentCallersBothComplete()
    {
        using var threads = new ComputeThreads(2);
        var first = new int[20_000];
        var second = new int[20_000];
        Parallel.Invoke(
            () => { for (int k = 0; k < 50; k++) threads.For(first.Length, new CountingWork(first)); },
            () => { for (int k = 0; k < 50; k++) threads.For(second.Length, new CountingWork(second)); });
        Assert.All(first, h => Assert.Equal(50, h));
        Assert.All(second, h => Assert.Equal(50, h));
    }

    [Fact]
    public void DisposeStopsTheWorkersAndLaterCallsThrow()
    {
        var threads = new ComputeThreads(3);
        threads.For(10, new CountingWork(new int[10]));
        threads.Dispose();
        threads.Dispose();
        Assert.Throws<ObjectDisposedException>(() => threads.For(10, new CountingWork(new int[10])));
    }

    [Fact]
    public void RejectsInvalidArguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ComputeThreads(0));
        using var threads = new ComputeThreads(2);
        Assert.Throws<ArgumentOutOfRangeException>(() => threads.For(-1, new CountingWork([])));
        Assert.Throws<ArgumentNullException>(() => threads.For(1, (Action<int, int>)null!));
    }
}
