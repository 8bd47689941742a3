using LlamaDist.Distributed.Protocol;
using LlamaDist.Worker.Hosting;
using LlamaDist.Worker.State;
using static LlamaDist.Distributed.Tests.Worker.WorkerCalls;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>
/// One session's long prompt step cannot monopolise a worker: another session's decode step that arrives while
/// it runs is evaluated after at most one more of the long step's micro-batches. Observed through the order of
/// micro-batches on the compute gate, not through timing.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class FairnessTests
{
    private readonly WorkerModels models;

    public FairnessTests(WorkerModels models) => this.models = models;

    [Fact]
    public async Task ADecodeStep_WaitsForOneMicroBatchOfAnotherSessionsLongPrompt()
    {
        // 2 tokens per micro-batch: the 16-token prompt is 8 micro-batches.
        await using var worker = await InProcessWorker.StartAsync(options: new WorkerOptions { MaxStepTokens = 2 });
        await worker.Client.LoadRangeAsync(models.LoadRequest(models.F32Path, models.Whole));
        var hash = models.Hash(models.F32Path, models.Whole);
        var longSession = await OpenSessionAsync(worker, hash);
        var shortSession = await OpenSessionAsync(worker, hash);

        var order = new List<string>();
        var longStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        worker.Runtime.MicroBatchEvaluated = (session, _) =>
        {
            lock (order)
            {
                order.Add(session);
            }
            if (session == longSession && longStarted.TrySetResult())
            {
                // Still holding the device after the long step's first micro-batch: wait (bounded) until the
                // decode step is queued behind it, so the order below is decided by the gate alone.
                var deadline = DateTime.UtcNow + Bound;
                while (worker.Runtime.Compute.WaitingCount == 0 && DateTime.UtcNow < deadline)
                {
                    Thread.Sleep(5);
                }
            }
        };

        int[] longPrompt = Enumerable.Range(0, 16).Select(i => 100 + 37 * i).ToArray();
        using var longCall = worker.Client.Forward();
        using var shortCall = worker.Client.Forward();
        var longStep = TokenStep(longSession, 1, 0, longPrompt);
        longStep.WantGreedyToken = true;
        var longReply = ExchangeAsync(longCall, longStep);
        await longStarted.Task.WaitAsync(Bound);

        var decode = TokenStep(shortSession, 1, 0, [Prompt[0]]);
        decode.WantGreedyToken = true;
        var shortReply = await ExchangeAsync(shortCall, decode);
        var longResult = await longReply;

        string[] observed;
        lock (order)
        {
            observed = order.ToArray();
        }
        Assert.Equal(9, observed.Length);
        Assert.Equal(8, observed.Count(session => session == longSession));
        // The decode step ran right after the first micro-batch of the long step, not after all eight.
        Assert.Equal(1, Array.IndexOf(observed, shortSession));

        // Both answers are still those of a local run.
        Assert.Equal(models.LocalGreedy(models.F32Path, longPrompt, 1)[0], longResult.GreedyToken);
        Assert.Equal(models.LocalGreedy(models.F32Path, [Prompt[0]], 1)[0], shortReply.GreedyToken);
        await longCall.RequestStream.CompleteAsync();
        await shortCall.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task TheGate_ServesWaitersInArrivalOrder_AndSkipsCancelledOnes()
    {
        var gate = new FairComputeGate();
        var served = new List<int>();
        var first = await gate.EnterAsync(CancellationToken.None);
        using var cancelled = new CancellationTokenSource();
        var waiters = new List<Task>();
        for (int i = 0; i < 4; i++)
        {
            int index = i;
            var token = index == 2 ? cancelled.Token : CancellationToken.None;
            waiters.Add(Task.Run(async () =>
            {
                using (await gate.EnterAsync(token))
                {
                    served.Add(index);
                }
            }));
            // Queue them one at a time, so arrival order is known.
            var deadline = DateTime.UtcNow + Bound;
            while (gate.WaitingCount < index + 1 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(5);
            }
        }
        Assert.Equal(4, gate.WaitingCount);
        cancelled.Cancel();
        first.Dispose();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiters[2].WaitAsync(Bound));
        await Task.WhenAll(waiters[0], waiters[1], waiters[3]).WaitAsync(Bound);
        Assert.Equal([0, 1, 3], served);
        Assert.Equal(0, gate.WaitingCount);

        // Free again: entered at once.
        using (await gate.EnterAsync(CancellationToken.None).AsTask().WaitAsync(Bound))
        {
        }
    }
}
