using System.Diagnostics;
using LlamaDist.Distributed.Client;

namespace LlamaDist.Distributed.Ring;

/// <summary>
/// Tells a dead or frozen stage from a busy one while a ring lives. Every stage's grpc.health.v1 service is asked
/// every quarter of the stage timeout; the worker answers from its request threads even while its compute threads
/// run a long prompt step, so a stage is declared failed only when it has given no answer for a whole
/// <see cref="StageTimeout"/> (frozen, SIGSTOPped, its host gone), refuses or resets the connection (its process
/// ended), or says it is shutting down — never because a step is long. <see cref="Failed"/> then completes with a
/// <see cref="WorkerCallException"/> naming that stage and what was observed, in plain words.
/// </summary>
public sealed class StageWatchdog : IDisposable
{
    private readonly IReadOnlyList<WorkerClient> workers;
    private readonly long[] lastAnswer;
    private readonly CancellationTokenSource stop = new();
    private readonly TaskCompletionSource<WorkerCallException> failed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private readonly Task[] loops;

    public StageWatchdog(IReadOnlyList<WorkerClient> workers, TimeSpan stageTimeout)
    {
        ArgumentNullException.ThrowIfNull(workers);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(stageTimeout, TimeSpan.Zero);
        this.workers = workers;
        StageTimeout = stageTimeout;
        lastAnswer = new long[workers.Count];
        Period = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(50).Ticks, stageTimeout.Ticks / 4));
        loops = [.. Enumerable.Range(0, workers.Count).Select(i => Task.Run(() => ProbeAsync(i))), Task.Run(WatchAsync)];
    }

    /// <summary>How long a stage may go without answering before it is declared failed.</summary>
    public TimeSpan StageTimeout { get; }

    /// <summary>Time between two health checks of one stage.</summary>
    public TimeSpan Period { get; }

    /// <summary>Completes when a stage is declared failed (it never faults or cancels).</summary>
    public Task<WorkerCallException> Failed => failed.Task;

    /// <summary>
    /// Asks every stage at once, each within the stage timeout, and returns the first one in ring order that did
    /// not answer SERVING (null when all did): who to blame when a stream broke and its message names another stage.
    /// </summary>
    public async Task<WorkerCallException?> FindFailedAsync(CancellationToken cancellationToken)
    {
        if (Failed.IsCompleted)
        {
            return await Failed.ConfigureAwait(false);
        }
        var checks = workers.Select(worker => CheckAsync(worker, cancellationToken)).ToArray();
        var results = await Task.WhenAll(checks).ConfigureAwait(false);
        return results.FirstOrDefault(result => result is not null);
    }

    private async Task<WorkerCallException?> CheckAsync(WorkerClient worker, CancellationToken cancellationToken)
    {
        try
        {
            return await worker.CheckHealthAsync(StageTimeout, cancellationToken).ConfigureAwait(false) ? null : ShuttingDown(worker);
        }
        catch (WorkerCallException exception)
        {
            return exception;
        }
        catch (ObjectDisposedException)
        {
            return null;
        }
    }

    private static WorkerCallException ShuttingDown(WorkerClient worker) =>
        new(worker.Endpoint.ToString(), WorkerFailure.Unreachable, $"Worker {worker.Endpoint} is shutting down (its health service answers NOT_SERVING).");

    private async Task ProbeAsync(int index)
    {
        Volatile.Write(ref lastAnswer[index], clock.ElapsedTicks);
        var worker = workers[index];
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (await worker.CheckHealthAsync(StageTimeout, stop.Token).ConfigureAwait(false))
                {
                    Volatile.Write(ref lastAnswer[index], clock.ElapsedTicks);
                }
                else
                {
                    failed.TrySetResult(ShuttingDown(worker));
                    return;
                }
            }
            catch (WorkerCallException exception) when (exception.Failure is WorkerFailure.Unreachable)
            {
                // Refused or reset: the process is gone. (A deadline is left to WatchAsync, which says how long.)
                if (!exception.DeadlineExceeded)
                {
                    failed.TrySetResult(exception);
                    return;
                }
            }
            catch (WorkerCallException)
            {
                // Any other answer (a refused token, say) is an answer: the process runs.
                Volatile.Write(ref lastAnswer[index], clock.ElapsedTicks);
            }
            catch (Exception exception) when (exception is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            try
            {
                await Task.Delay(Period, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Declares failed the first stage whose last answer is older than the stage timeout; checks often, cheaply.</summary>
    private async Task WatchAsync()
    {
        var tick = TimeSpan.FromTicks(Math.Clamp(StageTimeout.Ticks / 20, TimeSpan.FromMilliseconds(10).Ticks, TimeSpan.FromMilliseconds(100).Ticks));
        long limit = (long)(StageTimeout.TotalSeconds * Stopwatch.Frequency);
        while (!stop.IsCancellationRequested)
        {
            long now = clock.ElapsedTicks;
            for (int i = 0; i < workers.Count; i++)
            {
                if (now - Volatile.Read(ref lastAnswer[i]) > limit)
                {
                    var endpoint = workers[i].Endpoint;
                    failed.TrySetResult(new WorkerCallException(endpoint.ToString(), WorkerFailure.Unreachable,
                        $"Worker {endpoint} is unreachable: {FailureDescription.Deadline(StageTimeout)} to its health checks (frozen, stopped or cut off; -StageTimeout)."));
                    return;
                }
            }
            try
            {
                await Task.Delay(tick, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public void Dispose()
    {
        if (stop.IsCancellationRequested)
        {
            return;
        }
        stop.Cancel();
        // The loops end at their next await; a health check in flight is cancelled with them.
        Task.WaitAll(loops, TimeSpan.FromSeconds(2));
    }
}
