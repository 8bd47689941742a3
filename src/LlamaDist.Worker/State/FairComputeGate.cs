namespace LlamaDist.Worker.State;

/// <summary>
/// The worker's one device, lent one micro-batch at a time in arrival order: a first-in first-out lock. A long
/// Forward step re-enters once per micro-batch and so queues behind every step that arrived meanwhile — with
/// one waiter per session (a session runs one step at a time) that is round-robin between sessions, and another
/// session's decode step waits for one micro-batch at most. (A Monitor would let the releasing thread take the
/// lock straight back.) Control calls that free caches (close, release) enter it too, so nothing is freed under
/// a running evaluation.
/// </summary>
internal sealed class FairComputeGate
{
    private readonly object sync = new();
    private readonly Queue<TaskCompletionSource> waiting = new();
    private bool held;

    /// <summary>Callers queued for the device now (the holder not counted).</summary>
    public int WaitingCount
    {
        get
        {
            lock (sync)
            {
                return waiting.Count;
            }
        }
    }

    /// <summary>Waits for the device; dispose the result to hand it on to the next in line.</summary>
    public async ValueTask<Turn> EnterAsync(CancellationToken cancellationToken)
    {
        TaskCompletionSource turn;
        lock (sync)
        {
            if (!held)
            {
                held = true;
                return new Turn(this);
            }
            turn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            waiting.Enqueue(turn);
        }
        // A cancelled waiter stays in the queue, completed: Exit skips it (TrySetResult fails).
        using (cancellationToken.Register(() => turn.TrySetCanceled(cancellationToken)))
        {
            await turn.Task.ConfigureAwait(false);
        }
        return new Turn(this);
    }

    /// <summary>Blocking form, for control calls that are not async.</summary>
    public Turn Enter() => EnterAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();

    private void Exit()
    {
        lock (sync)
        {
            while (waiting.TryDequeue(out var next))
            {
                if (next.TrySetResult())
                {
                    return;  // handed over: still held, now by the next in line
                }
            }
            held = false;
        }
    }

    /// <summary>One holding of the device.</summary>
    public readonly struct Turn(FairComputeGate gate) : IDisposable
    {
        public void Dispose() => gate.Exit();
    }
}
