using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// A small fork-join pool: <see cref="ThreadCount"/> - 1 persistent worker threads plus the calling thread split
/// each <see cref="For{TWork}(int, TWork)"/> into chunks taken from a shared counter. Workers spin briefly between
/// calls (a forward pass issues matmuls back to back) and then sleep. Which thread computes an index never
/// changes the result, so outputs are identical for any thread count.
/// <para>A worker joins a call only while the caller is still taking chunks, and the caller waits only for the
/// workers that joined: a worker still waking up (its core halted, as a virtual machine's idle cores are) when
/// the caller has taken the last chunk itself is left out instead of being waited for. The first call after a
/// gap (each step of a worker serving a ring comes after a network round trip, longer than the spin) used to
/// wait for that wake-up every time.</para>
/// <para>Pinned (given CPUs, at least one per thread): each worker thread runs only on its own CPU, and a caller
/// that brackets its passes with <see cref="PinCaller"/> runs them on the first. A worker serving a ring sleeps
/// between its steps, and its threads then woke onto one core about half the time (the scheduler places a woken
/// thread beside its waker), so the step's kernels ran two threads on one core while the other stood idle:
/// pinned, two 2-thread workers on a 2-core machine decoded 9-17% faster as a ring in three of four alternating
/// runs (1% slower in the fourth).</para>
/// <para>One <see cref="For{TWork}(int, TWork)"/> runs at a time: a call made while another is in flight (from a
/// callback or another thread) runs inline on its caller. An exception thrown by the work on any thread stops
/// the remaining chunks and is rethrown on the caller with its original stack.</para>
/// </summary>
public sealed unsafe class ComputeThreads : IDisposable
{
    // Polls of the job counter before a worker blocks: long enough to bridge the gap between consecutive kernels
    // of one token, short enough not to burn a core while the engine is idle.
    private const int SpinIterations = 200;

    // Chunks per thread: small enough to balance load when a core is busy with something else, large enough that
    // the shared counter is not contended.
    private const int ChunksPerThread = 4;

    private readonly Thread[] _workers;
    private readonly object _sleepGate = new();
    private readonly ManualResetEventSlim _workersDone = new(false);

    // Admission of workers to the current call: AdmissionOpen while the caller may still be taking chunks, plus
    // the number of workers inside the call (joined and not yet left).
    private const int AdmissionOpen = 1 << 30;

    private int _inFlight;       // 1 while a parallel For owns the workers
    private long _generation;    // bumped once per parallel For (and on Dispose) to wake workers
    private int _sleepingWorkers;
    private volatile bool _disposed;

    // The current job, written by the caller before _generation is bumped, read by workers after they see it.
    private delegate*<void*, int, int, void> _invoke;
    private void* _work;
    private int _count;
    private int _chunk;
    private long _nextIndex;
    private int _admission;
    private Exception? _firstError;

    // Pinned: the CPU of each thread (the caller's first), and the whole set a pinned caller returns to; else null.
    private readonly int[]? _pins;
    private readonly int[]? _callerSet;

    /// <summary>
    /// Starts <paramref name="threadCount"/> - 1 worker threads (the caller is the last one). With
    /// <paramref name="pinTo"/> holding at least one CPU per thread, on a platform that can pin threads, thread k
    /// runs only on <paramref name="pinTo"/>[k] (the caller's is <paramref name="pinTo"/>[0], see
    /// <see cref="PinCaller"/>); otherwise the threads run where the scheduler puts them.
    /// </summary>
    public ComputeThreads(int threadCount, IReadOnlyList<int>? pinTo = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(threadCount);
        ThreadCount = threadCount;
        if (pinTo is not null && pinTo.Distinct().Count() >= threadCount && ThreadAffinity.IsSupported)
        {
            _callerSet = [.. pinTo.Distinct()];
            _pins = _callerSet[..threadCount];
        }
        _workers = new Thread[threadCount - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            int cpu = _pins?[i + 1] ?? -1;
            _workers[i] = new Thread(() => WorkerLoop(cpu))
            {
                IsBackground = true,
                Name = $"LlamaDist compute {i + 1}",
            };
            _workers[i].Start();
        }
    }

    /// <summary>Whether each thread runs on a CPU of its own (see the constructor).</summary>
    public bool Pinned => _pins is not null;

    /// <summary>
    /// Runs the calling thread on the first pinned CPU until the returned scope ends, then on the whole set again:
    /// bracket a pass of several <see cref="For{TWork}(int, TWork)"/> calls with it (two affinity calls per pass,
    /// not per call). Does nothing when the threads are not pinned.
    /// </summary>
    public CallerPin PinCaller() =>
        _pins is not null && ThreadAffinity.TrySetCurrentThread([_pins[0]]) ? new CallerPin(_callerSet) : default;

    /// <summary>A pinned caller's scope (<see cref="PinCaller"/>): disposing it lets the thread run on the whole set again.</summary>
    public readonly struct CallerPin : IDisposable
    {
        private readonly int[]? restore;

        internal CallerPin(int[]? restore) => this.restore = restore;

        public void Dispose()
        {
            if (restore is not null)
            {
                ThreadAffinity.TrySetCurrentThread(restore);
            }
        }
    }

    /// <summary>Threads that share each <see cref="For{TWork}(int, TWork)"/>, the caller included.</summary>
    public int ThreadCount { get; }

    /// <summary>
    /// Runs <paramref name="work"/> over [0, <paramref name="count"/>) split into ranges across all threads and
    /// returns when every index is done. <paramref name="work"/> is passed by value and lives on this call's
    /// stack while the workers read it, so the call allocates nothing.
    /// </summary>
    public void For<TWork>(int count, TWork work) where TWork : struct, IRangeWork, allows ref struct
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count == 0)
        {
            return;
        }
        if (_workers.Length == 0 || count == 1 || Interlocked.CompareExchange(ref _inFlight, 1, 0) != 0)
        {
            work.Execute(0, count);
            return;
        }
        try
        {
            _invoke = &Invoke<TWork>;
            _work = Unsafe.AsPointer(ref work);
            _count = count;
            _chunk = Math.Max(1, count / (ThreadCount * ChunksPerThread));
            _nextIndex = 0;
            _firstError = null;
            _workersDone.Reset();
            Volatile.Write(ref _admission, AdmissionOpen); // the last call ended with nobody inside

            Interlocked.Increment(ref _generation); // full fence: the job fields above are visible first
            if (Volatile.Read(ref _sleepingWorkers) > 0)
            {
                lock (_sleepGate)
                {
                    Monitor.PulseAll(_sleepGate);
                }
            }

            RunChunks();
            // Every chunk is taken. Close the call to workers not yet inside, and wait for those inside (even
            // after an error): they must be off 'work' before it goes out of scope.
            if ((Interlocked.And(ref _admission, ~AdmissionOpen) & ~AdmissionOpen) != 0)
            {
                _workersDone.Wait();
            }

            _invoke = null;
            _work = null;
            Exception? error = _firstError;
            _firstError = null;
            if (error is not null)
            {
                ExceptionDispatchInfo.Throw(error);
            }
        }
        finally
        {
            Volatile.Write(ref _inFlight, 0);
        }
    }

    /// <summary>
    /// Convenience overload taking a delegate (allocates whatever closure the caller builds); prefer the struct
    /// overload on hot paths.
    /// </summary>
    public void For(int count, Action<int, int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        For(count, new DelegateWork(body));
    }

    /// <summary>Stops and joins the worker threads. Calling it again does nothing.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        Interlocked.Increment(ref _generation);
        lock (_sleepGate)
        {
            Monitor.PulseAll(_sleepGate);
        }
        foreach (Thread worker in _workers)
        {
            worker.Join();
        }
        _workersDone.Dispose();
    }

    private static void Invoke<TWork>(void* work, int start, int end) where TWork : struct, IRangeWork, allows ref struct =>
        Unsafe.AsRef<TWork>(work).Execute(start, end);

    private void RunChunks()
    {
        delegate*<void*, int, int, void> invoke = _invoke;
        void* work = _work;
        int count = _count;
        int chunk = _chunk;
        try
        {
            while (true)
            {
                long start = Interlocked.Add(ref _nextIndex, chunk) - chunk;
                if (start >= count)
                {
                    return;
                }
                invoke(work, (int)start, (int)Math.Min(count, start + chunk));
            }
        }
        catch (Exception error)
        {
            Interlocked.CompareExchange(ref _firstError, error, null);
            Interlocked.Exchange(ref _nextIndex, count); // no thread starts another chunk
        }
    }

    private void WorkerLoop(int cpu)
    {
        if (cpu >= 0)
        {
            ThreadAffinity.TrySetCurrentThread([cpu]);
        }
        long seen = 0;
        while (true)
        {
            seen = WaitForNextGeneration(seen);
            if (_disposed)
            {
                return;
            }
            if (!TryJoin())
            {
                continue; // the caller already took every chunk: nothing to wait for here
            }
            RunChunks();
            if (Interlocked.Decrement(ref _admission) == 0)
            {
                _workersDone.Set(); // the call is closed and this was the last worker inside
            }
        }
    }

    /// <summary>
    /// Enters the open call, if any (it may be a later call than the one that woke this worker: the job fields
    /// read after entering are that call's, written before it opened).
    /// </summary>
    private bool TryJoin()
    {
        int state = Volatile.Read(ref _admission);
        while ((state & AdmissionOpen) != 0)
        {
            int prior = Interlocked.CompareExchange(ref _admission, state + 1, state);
            if (prior == state)
            {
                return true;
            }
            state = prior;
        }
        return false;
    }

    private long WaitForNextGeneration(long seen)
    {
        SpinWait spinner = default;
        for (int i = 0; i < SpinIterations; i++)
        {
            long generation = Volatile.Read(ref _generation);
            if (generation != seen)
            {
                return generation;
            }
            spinner.SpinOnce(sleep1Threshold: -1);
        }
        lock (_sleepGate)
        {
            // Announce the sleep before the final check (both are full fences), so a caller that bumps the
            // generation either is seen here or sees this worker asleep and pulses.
            Interlocked.Increment(ref _sleepingWorkers);
            try
            {
                long generation;
                while ((generation = Volatile.Read(ref _generation)) == seen)
                {
                    Monitor.Wait(_sleepGate);
                }
                return generation;
            }
            finally
            {
                Interlocked.Decrement(ref _sleepingWorkers);
            }
        }
    }

    private readonly struct DelegateWork(Action<int, int> body) : IRangeWork
    {
        public void Execute(int start, int end) => body(start, end);
    }
}
