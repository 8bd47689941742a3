using System.Diagnostics;
using System.Runtime.CompilerServices;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Worker.State;

/// <summary>
/// Micro-batches of different sessions on the same range, evaluated together in one pass
/// (<see cref="BatchedForward"/>), so concurrent prompts read this worker's weights once per step for all of
/// them instead of once each — what makes N prompts at once cost little more than one on a memory-bound CPU.
/// <para>
/// Each micro-batch is queued here, then waits for its turn on the compute gate (<see cref="FairComputeGate"/>,
/// first come first served, unchanged). Whoever gets a turn first evaluates, besides its own, every micro-batch
/// queued for the same range meanwhile, in arrival order, up to --max-step-tokens rows in all; those callers find
/// their work done and leave the gate's queue. A micro-batch that gets the gate waits briefly for sessions of its
/// range that are elsewhere in the ring (<see cref="GatherWindow"/>; about a pass where the ring's stages share a
/// machine, <see cref="SharedMachineGatherLimit"/>), never for sessions that are idle. Results are bit-identical to
/// evaluating each alone.
/// </para>
/// </summary>
internal sealed class StepBatcher
{
    private readonly FairComputeGate gate;
    private readonly ComputeThreads threads;
    private readonly int maxRows;
    private readonly object sync = new();
    private readonly List<Work> queued = [];
    private readonly ConditionalWeakTable<LlamaForward, BatchedForward> passes = new();

    private readonly Func<HostedSession, int> companionsElsewhere;
    private double lastPassMs;
    private TaskCompletionSource arrival = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Longest a micro-batch that got the device waits for the steps of other sessions of its range that stream
    /// but are elsewhere in the ring (their previous step is still being passed on, or their coordinator is
    /// sampling): without it the first step back would run alone and split the next pass in two. Never more than
    /// a tenth of the last pass, so a fast range loses little when no step comes.
    /// </summary>
    public static readonly TimeSpan GatherWindow = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// Longest a step of a session whose ring's stages share a machine waits on the ring's first stage for its
    /// companions: <see cref="SharedMachinePasses"/> of the last pass, never more than this. It waits only while
    /// one is due (back within half its own step period, see <see cref="StepPace.IsDueBy"/>). A companion in
    /// another stage's pass comes back about a pass later, while the cores are busy with that stage, so the wait
    /// costs little and the batch stays whole; one held up longer (a slow coordinator) is not worth the idle cores.
    /// Measured on two 2-thread workers on one 2-core machine (TinyLlama Q8_0): 4 sequences decoded at 1.5x one
    /// with the 2 ms window and at 2.0x-2.2x with this one.
    /// </summary>
    public static readonly TimeSpan SharedMachineGatherLimit = TimeSpan.FromMilliseconds(100);

    /// <summary>The shared-machine wait in passes: one and a half of the last pass.</summary>
    public const double SharedMachinePasses = 1.5;

    /// <summary>This batcher's <see cref="SharedMachineGatherLimit"/> (tests lengthen it to make waiting visible).</summary>
    public TimeSpan SharedMachineWait { get; set; } = SharedMachineGatherLimit;

    /// <summary>This batcher's <see cref="SharedMachinePasses"/> (tests lengthen it with the limit).</summary>
    public double SharedMachineWaitPasses { get; set; } = SharedMachinePasses;

    /// <summary>The shared-machine window after a pass of <paramref name="lastPassMs"/>: the passes, within the limit.</summary>
    public TimeSpan SharedMachineWindow(double lastPassMs) =>
        TimeSpan.FromMilliseconds(Math.Min(SharedMachineWait.TotalMilliseconds, SharedMachineWaitPasses * lastPassMs));

    /// <param name="gate">The worker's compute device.</param>
    /// <param name="maxRows">Most rows (tokens of all sessions together) one pass takes.</param>
    /// <param name="companionsElsewhere">How many sessions a step of the given session may wait for (sessions of
    /// its range with a step stream open and no step here now; see WorkerRuntime).</param>
    public StepBatcher(FairComputeGate gate, int maxRows, Func<HostedSession, int> companionsElsewhere, ComputeThreads threads)
    {
        this.gate = gate;
        this.threads = threads;
        this.maxRows = Math.Clamp(maxRows, 1, BatchedForward.MaxRows);
        this.companionsElsewhere = companionsElsewhere;
    }

    /// <summary>Called inside the gate after each micro-batch with its session and rows (tests observe the order).</summary>
    public Action<string, int>? Evaluated { get; set; }

    /// <summary>Micro-batches waiting to be evaluated now.</summary>
    public int QueuedCount
    {
        get
        {
            lock (sync)
            {
                return queued.Count;
            }
        }
    }

    /// <summary>Passes of more than one session so far (for status and tests).</summary>
    public long SharedPasses => Interlocked.Read(ref sharedPasses);

    private long sharedPasses;

    /// <summary>
    /// Evaluates <paramref name="step"/> for <paramref name="session"/>, combined with others' where possible;
    /// <paramref name="alone"/> evaluates the same micro-batch on its own (used when nothing else is queued, and
    /// for a null <paramref name="step"/>: all-token logits, or more rows than one batched pass takes). Returns the
    /// compute time of the pass that evaluated it.
    /// </summary>
    public async Task<TimeSpan> EvaluateAsync(HostedSession session, int rows, BatchedStep? step, Action alone,
        CancellationToken cancellationToken)
    {
        var work = new Work(session, rows, step, alone);
        session.Pace.Mark(Stopwatch.GetTimestamp());
        lock (sync)
        {
            queued.Add(work);
            var arrived = arrival;
            arrival = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            arrived.TrySetResult();  // wakes a pass gathering company
        }

        using var leave = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var entering = gate.EnterAsync(leave.Token).AsTask();
        try
        {
            var first = await Task.WhenAny(work.Done.Task, entering).ConfigureAwait(false);
            if (first == work.Done.Task)
            {
                // Evaluated in another caller's pass: give up the place in the gate's queue.
                leave.Cancel();
                await LeaveGateAsync(entering).ConfigureAwait(false);
            }
            else
            {
                using (await entering.ConfigureAwait(false))
                {
                    if (!work.Done.Task.IsCompleted)
                    {
                        await GatherAsync(work, cancellationToken).ConfigureAwait(false);
                        RunPass(work);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            Withdraw(work);
            if (!work.Done.Task.IsCompleted)
            {
                throw;
            }
        }
        return await work.Done.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// On the gate: waits a moment for the range's other streaming sessions (see <see cref="GatherWindow"/> and
    /// <see cref="SharedMachineGatherLimit"/>), until they are all queued, the pass is full or the window closes.
    /// </summary>
    private async Task GatherAsync(Work own, CancellationToken cancellationToken)
    {
        if (own.Step is null)
        {
            return;
        }
        double lastPass = Volatile.Read(ref lastPassMs);
        // Only the ring's first stage waits long: batches it makes whole reach the later stages whole, and two
        // stages each holding half the sessions and waiting for the other half would wait for each other.
        var window = own.Session.StagesShareMachine && own.Session.Range.IncludesEmbedding
            ? SharedMachineWindow(lastPass)
            : TimeSpan.FromMilliseconds(Math.Min(GatherWindow.TotalMilliseconds, lastPass / 10));
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < window && companionsElsewhere(own.Session) > 0)
        {
            Task next;
            lock (sync)
            {
                if (queued.Where(work => ReferenceEquals(work.Session.Range, own.Session.Range)).Sum(work => work.Rows) >= maxRows)
                {
                    return;
                }
                next = arrival.Task;
            }
            var remaining = window - clock.Elapsed;
            if (remaining <= TimeSpan.Zero)
            {
                return;
            }
            // Woken by an arrival, else every GatherWindow to see whether the companions are still due.
            var nap = remaining < GatherWindow ? remaining : GatherWindow;
            await Task.WhenAny(next, Task.Delay(nap, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>On the gate: the caller's work and whatever of the same range is queued and fits, in one pass.</summary>
    private void RunPass(Work own)
    {
        var batch = Take(own);
        // On the compute threads' first CPU while the pass runs, when they are pinned (--cpu-affinity).
        using var pin = threads.PinCaller();
        var clock = Stopwatch.StartNew();
        try
        {
            var runnable = new List<Work>(batch.Count);
            foreach (var work in batch)
            {
                if (work.Session.Cache.IsDisposed)
                {
                    work.Done.TrySetException(WorkerErrors.NotFound($"Session {work.Session.Id} was closed."));
                }
                else
                {
                    runnable.Add(work);
                }
            }
            if (runnable.Count == 1)
            {
                runnable[0].Alone();
            }
            else if (runnable.Count > 0)
            {
                var forward = runnable[0].Session.Range.Forward;
                try
                {
                    passes.GetValue((Core.Model.LlamaForward)forward, key => new BatchedForward(key)).Evaluate(runnable.Select(work => work.Step!).ToList());
                    Interlocked.Increment(ref sharedPasses);
                }
                catch (Exception exception) when (exception is ArgumentException or InvalidOperationException or ObjectDisposedException)
                {
                    // A batched pass checks every step before it changes anything: one bad step must not fail the
                    // others' streams, so each runs alone and only a bad one fails.
                    runnable = RunEachAlone(runnable);
                }
            }
            clock.Stop();
            Volatile.Write(ref lastPassMs, clock.Elapsed.TotalMilliseconds);
            foreach (var work in runnable)
            {
                Evaluated?.Invoke(work.Session.Id, work.Rows);
                work.Done.TrySetResult(clock.Elapsed);
            }
        }
        catch (Exception exception)
        {
            foreach (var work in batch)
            {
                work.Done.TrySetException(exception);
            }
        }
    }

    /// <summary>Each work on its own; returns those that succeeded (the others have failed with their own error).</summary>
    private static List<Work> RunEachAlone(List<Work> works)
    {
        var succeeded = new List<Work>(works.Count);
        foreach (var work in works)
        {
            try
            {
                work.Alone();
                succeeded.Add(work);
            }
            catch (Exception exception)
            {
                work.Done.TrySetException(exception);
            }
        }
        return succeeded;
    }

    /// <summary>Removes and returns the caller's work plus queued work of the same range that fits beside it.</summary>
    private List<Work> Take(Work own)
    {
        var batch = new List<Work> { own };
        lock (sync)
        {
            queued.Remove(own);
            if (own.Step is null)
            {
                return batch;  // not combinable: it runs alone
            }
            int rows = own.Rows;
            var forward = own.Session.Range.Forward;
            for (int i = 0; i < queued.Count; i++)
            {
                var other = queued[i];
                if (other.Step is not null && ReferenceEquals(other.Session.Range.Forward, forward) && rows + other.Rows <= maxRows)
                {
                    batch.Add(other);
                    rows += other.Rows;
                    queued.RemoveAt(i--);
                }
            }
        }
        return batch;
    }

    private void Withdraw(Work work)
    {
        lock (sync)
        {
            queued.Remove(work);
        }
    }

    /// <summary>A gate wait that was cancelled may still have been granted first: hand such a turn straight on.</summary>
    private static async Task LeaveGateAsync(Task<FairComputeGate.Turn> entering)
    {
        try
        {
            (await entering.ConfigureAwait(false)).Dispose();
        }
        catch (OperationCanceledException)
        {
            // Left the queue before its turn came: nothing to hand on.
        }
    }

    private sealed class Work(HostedSession session, int rows, BatchedStep? step, Action alone)
    {
        public HostedSession Session { get; } = session;

        public int Rows { get; } = rows;

        public BatchedStep? Step { get; } = step;

        public Action Alone { get; } = alone;

        public TaskCompletionSource<TimeSpan> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
