using System.Collections.Concurrent;

namespace LlamaDist.Worker.Service;

/// <summary>
/// One thread that runs a step stream's steps in turn, for as long as the stream lasts. A tensor shard's step
/// blocks in its peer links, so it cannot run on the thread pool; starting a thread per step cost a thread's
/// creation and its first-use buffers on every token, and a fresh thread may start on any core.
/// </summary>
internal sealed class StepThread : IDisposable
{
    private readonly BlockingCollection<Action> work = new(boundedCapacity: 1);
    private readonly Thread thread;

    public StepThread(string name)
    {
        thread = new Thread(RunAll) { IsBackground = true, Name = name };
        thread.Start();
    }

    /// <summary>Runs <paramref name="step"/> on this thread; one at a time (a stream's steps are in order).</summary>
    public Task<T> Run<T>(Func<T> step)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        work.Add(() =>
        {
            try
            {
                done.SetResult(step());
            }
            catch (Exception exception)
            {
                done.SetException(exception);
            }
        });
        return done.Task;
    }

    private void RunAll()
    {
        foreach (var item in work.GetConsumingEnumerable())
        {
            item();
        }
    }

    /// <summary>Lets the thread end after the step it runs, if any.</summary>
    public void Dispose() => work.CompleteAdding();
}
