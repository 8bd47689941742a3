using LlamaDist.Core.Backends;
using LlamaDist.Core.Model;

namespace LlamaDist.Engine.Generation;

/// <summary>
/// The compute of one local model shared by the sequences that run on it at the same time (prompts piped into
/// Invoke-LlamaPrompt -ThrottleLimit, concurrent benchmark sequences): steps that arrive while a pass runs are
/// evaluated together in the next one (<see cref="BatchedForward"/>), so the weights are read once per step for
/// all of them, and never two passes at once on the model's threads. A step never waits for company: alone, it
/// runs at once. Every sequence's results are bit-identical to running it alone. Only the CPU engine batches
/// sessions; on another backend each step runs alone, one at a time.
/// </summary>
internal sealed class LocalBatcher
{
    private readonly object sync = new();
    private readonly List<Work> queued = [];
    private readonly BatchedForward? batched;
    private bool busy;
    private int sequences;
    private double lastPassMs;

    /// <summary>
    /// Longest a step that got the device waits for the model's other sequences to come back with theirs (each
    /// samples its token between steps): without it, the first one back would run alone and split the next pass.
    /// Also never more than a tenth of the last pass, so a fast model loses little when a sequence does not come.
    /// </summary>
    public static readonly TimeSpan GatherWindow = TimeSpan.FromMilliseconds(2);

    public LocalBatcher(IRangeForward forward)
    {
        Forward = forward;
        batched = forward is LlamaForward cpu ? new BatchedForward(cpu) : null;
    }

    public IRangeForward Forward { get; }

    /// <summary>Passes that evaluated more than one sequence (tests and diagnostics).</summary>
    public long SharedPasses => Interlocked.Read(ref sharedPasses);

    private long sharedPasses;

    /// <summary>Steps waiting for the device now (tests and diagnostics).</summary>
    public int WaitingSteps
    {
        get
        {
            lock (sync)
            {
                return queued.Count;
            }
        }
    }

    /// <summary>A sequence starts using the model (its steps are waited for, see <see cref="GatherWindow"/>).</summary>
    public void Join()
    {
        lock (sync)
        {
            sequences++;
        }
    }

    /// <summary>A sequence is done with the model.</summary>
    public void Leave()
    {
        lock (sync)
        {
            sequences--;
            Monitor.PulseAll(sync);
        }
    }

    /// <summary>Evaluates <paramref name="tokens"/> for <paramref name="session"/> and writes the last position's logits.</summary>
    public void Evaluate(IForwardSession session, ReadOnlySpan<int> tokens, float[] logits)
    {
        // Longer than one batched pass, or not the CPU engine's session: alone (in the forward pass's own micro-batches).
        bool alone = batched is null || session is not LlamaSession || tokens.Length > BatchedForward.MaxRows;
        // Session is read only by a batched pass, never when the step runs alone.
        var step = new BatchedStep { Session = (session as LlamaSession)!, Count = tokens.Length, Tokens = tokens.ToArray(), Output = logits, WantsLogits = true };
        Run(new Work(session, step, alone, custom: null));
    }

    /// <summary>Runs <paramref name="pass"/> holding the device, alone (a backend's own step, e.g. greedy on the device).</summary>
    public int RunExclusive(Func<int> pass)
    {
        var work = new Work(null, null, alone: true, custom: pass);
        Run(work);
        return work.Result;
    }

    private void Run(Work work)
    {
        lock (sync)
        {
            queued.Add(work);
            Monitor.PulseAll(sync);  // a step gathering company may be waiting for this one
            // Wait for the device, or for a pass of another sequence to have taken this step along.
            while (busy && !work.Done)
            {
                Monitor.Wait(sync);
            }
            if (!work.Done)
            {
                busy = true;
                Gather(work);
            }
        }
        if (!work.Done)
        {
            try
            {
                RunPass(work);
            }
            finally
            {
                lock (sync)
                {
                    busy = false;
                    Monitor.PulseAll(sync);
                }
            }
        }
        if (work.Failure is { } failure)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>Holding the device (and the lock): waits a moment for the other sequences' steps, see <see cref="GatherWindow"/>.</summary>
    private void Gather(Work own)
    {
        if (own.Alone)
        {
            return;
        }
        var window = TimeSpan.FromMilliseconds(Math.Min(GatherWindow.TotalMilliseconds, lastPassMs / 10));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (queued.Count < sequences && clock.Elapsed < window)
        {
            Monitor.Wait(sync, window - clock.Elapsed);
        }
    }

    /// <summary>Holding the device: the caller's step and every queued one that fits beside it, in one pass.</summary>
    private void RunPass(Work own)
    {
        var passClock = System.Diagnostics.Stopwatch.StartNew();
        var batch = new List<Work> { own };
        lock (sync)
        {
            queued.Remove(own);
            int rows = own.Step?.Count ?? 0;
            for (int i = 0; !own.Alone && i < queued.Count; i++)
            {
                if (!queued[i].Alone && rows + queued[i].Step!.Count <= BatchedForward.MaxRows)
                {
                    rows += queued[i].Step!.Count;
                    batch.Add(queued[i]);
                    queued.RemoveAt(i--);
                }
            }
        }
        try
        {
            if (batch.Count == 1)
            {
                EvaluateAlone(own);
            }
            else
            {
                batched!.Evaluate(batch.Select(work => work.Step!).ToList());
                Interlocked.Increment(ref sharedPasses);
            }
        }
        catch (Exception exception) when (batch.Count > 1 && exception is ArgumentException or InvalidOperationException or ObjectDisposedException)
        {
            // A batched pass checks every step before it changes anything: one bad step must not fail the others,
            // so each is evaluated on its own and only the bad one reports its error.
            foreach (var work in batch)
            {
                try
                {
                    EvaluateAlone(work);
                }
                catch (Exception failure)
                {
                    work.Failure = failure;
                }
            }
        }
        catch (Exception exception)
        {
            batch.ForEach(work => work.Failure = exception);
        }
        lock (sync)
        {
            batch.ForEach(work => work.Done = true);
            lastPassMs = passClock.Elapsed.TotalMilliseconds;
        }
    }

    private void EvaluateAlone(Work work)
    {
        if (work.Custom is { } custom)
        {
            work.Result = custom();
            return;
        }
        Forward.EvaluateTokens(work.Session!, work.Step!.Tokens.Span, work.Step.Output.Span, logitsForAllTokens: false);
    }

    /// <summary>One step waiting for the device: a batchable step, or a backend's own pass (<see cref="Custom"/>).</summary>
    private sealed class Work(IForwardSession? session, BatchedStep? step, bool alone, Func<int>? custom)
    {
        public IForwardSession? Session { get; } = session;

        public BatchedStep? Step { get; } = step;

        public Func<int>? Custom { get; } = custom;

        public int Result { get; set; }

        /// <summary>Runs in a pass of its own (longer than a batched pass takes).</summary>
        public bool Alone { get; } = alone;

        public bool Done { get; set; }

        public Exception? Failure { get; set; }
    }
}
