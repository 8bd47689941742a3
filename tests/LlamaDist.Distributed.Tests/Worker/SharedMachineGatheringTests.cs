using Grpc.Core;
using LlamaDist.Distributed.Protocol;
using static LlamaDist.Distributed.Tests.Worker.WorkerCalls;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>
/// On a ring whose stages share a machine (OpenSessionRequest.stages_share_machine), the first stage holds a step
/// back for the range's other sessions that decode at a steady pace and are due, so they run as one pass; without
/// the flag a step waits at most a couple of milliseconds and runs alone. Two sessions are paced by a few rounds
/// of steps queued together while the test holds the device (so each round is one pass and both sessions have the
/// same period); then one session's step comes alone and the other's a little later.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class SharedMachineGatheringTests
{
    private const int PacedRounds = 3;
    // The second step comes Lag after the first, well inside half a pace (a paced session is due for one and a
    // half periods), and far beyond the 2 ms a step waits where the stages do not share a machine. Half a pace
    // (300 ms) leaves 260 ms of slack after the lag: with a 200 ms pace (60 ms of slack) a run of the whole suite
    // on two busy cores once delivered the second step after its session was no longer due, and the pass ran alone.
    private static readonly TimeSpan Pace = TimeSpan.FromMilliseconds(600);
    private static readonly TimeSpan Lag = TimeSpan.FromMilliseconds(40);

    private readonly WorkerModels models;

    public SharedMachineGatheringTests(WorkerModels models) => this.models = models;

    [Theory]
    [InlineData(true, 1)]
    [InlineData(false, 0)]
    public async Task A_due_companion_joins_the_pass_only_where_the_stages_share_a_machine(bool shareMachine, long expectedSharedPasses)
    {
        await using var worker = await InProcessWorker.StartAsync();
        var (sessions, calls) = await TwoSessionsAsync(worker, shareMachine);
        int[] next = [Prompt[0], Prompt[1]];

        ulong sequence = 1;
        int position = 0;
        for (int round = 0; round < PacedRounds; round++, sequence++, position++)
        {
            var replies = await TogetherAsync(worker, () => [Step(0), Step(1)]);
            next = replies.Select(reply => reply.GreedyToken).ToArray();
            await Task.Delay(Pace);
        }

        long before = worker.Runtime.Batcher.SharedPasses;
        var first = Step(0);
        await Task.Delay(Lag);
        var second = Step(1);
        await Task.WhenAll(first, second).WaitAsync(Bound);
        Assert.Equal(expectedSharedPasses, worker.Runtime.Batcher.SharedPasses - before);
        await EndAsync(calls);

        Task<ForwardReply> Step(int s)
        {
            var request = TokenStep(sessions[s], sequence, position, [next[s]]);
            request.WantGreedyToken = true;
            return ExchangeAsync(calls[s], request);
        }
    }

    [Fact]
    public async Task A_paused_companion_is_not_waited_for()
    {
        await using var worker = await InProcessWorker.StartAsync();
        var (sessions, calls) = await TwoSessionsAsync(worker, shareMachine: true);
        for (int round = 0; round < PacedRounds; round++)
        {
            await TogetherAsync(worker, () => [.. Enumerable.Range(0, 2).Select(s => ExchangeAsync(calls[s], Greedy(sessions[s], round)))]);
            await Task.Delay(Pace);
        }

        // Session 1 stays away for two of its periods (it is no longer due), so session 0's step runs at once: its
        // reply comes within the bound while session 1 still has sent nothing.
        await Task.Delay(Pace * 2);
        long before = worker.Runtime.Batcher.SharedPasses;
        await ExchangeAsync(calls[0], Greedy(sessions[0], PacedRounds));
        Assert.Equal(0, worker.Runtime.Batcher.SharedPasses - before);
        await EndAsync(calls);
    }

    /// <summary>
    /// Loads the whole F32 model and opens two sessions with a Forward stream each. The wait limits are lengthened so
    /// that the companions' pace alone decides (a pass of this tiny model takes well under a millisecond), and a
    /// companion wrongly waited for would hold a step past the test's bound.
    /// </summary>
    private async Task<(string[] Sessions, AsyncDuplexStreamingCall<ForwardRequest, ForwardReply>[] Calls)> TwoSessionsAsync(
        InProcessWorker worker, bool shareMachine)
    {
        await worker.Client.LoadRangeAsync(models.LoadRequest(models.F32Path, models.Whole));
        var hash = models.Hash(models.F32Path, models.Whole);
        worker.Runtime.Batcher.SharedMachineWait = TimeSpan.FromSeconds(30);
        worker.Runtime.Batcher.SharedMachineWaitPasses = 1e9;
        string[] sessions = [await OpenAsync(worker, hash, shareMachine), await OpenAsync(worker, hash, shareMachine)];
        return (sessions, [worker.Client.Forward(), worker.Client.Forward()]);
    }

    private static async Task EndAsync(AsyncDuplexStreamingCall<ForwardRequest, ForwardReply>[] calls)
    {
        foreach (var call in calls)
        {
            await call.RequestStream.CompleteAsync();
            call.Dispose();
        }
    }

    /// <summary>Sends the steps while the test holds the device and releases it once all are queued: one pass.</summary>
    private static async Task<ForwardReply[]> TogetherAsync(InProcessWorker worker, Func<Task<ForwardReply>[]> send)
    {
        Task<ForwardReply>[] replies;
        using (await worker.Runtime.Compute.EnterAsync(CancellationToken.None))
        {
            replies = send();
            var deadline = DateTime.UtcNow + Bound;
            while (worker.Runtime.Batcher.QueuedCount < replies.Length && DateTime.UtcNow < deadline)
            {
                await Task.Delay(5);
            }
            Assert.Equal(replies.Length, worker.Runtime.Batcher.QueuedCount);
        }
        return await Task.WhenAll(replies).WaitAsync(Bound);
    }

    [Theory]
    [InlineData(10.0, 15.0)]    // one and a half passes
    [InlineData(200.0, 100.0)]  // never past the limit
    [InlineData(0.0, 0.0)]      // no pass yet: nothing to wait for
    public void The_wait_is_one_and_a_half_passes_within_the_limit(double lastPassMs, double expectedMs)
    {
        using var threads = new LlamaDist.Core.Quantization.ComputeThreads(1);
        var batcher = new LlamaDist.Worker.State.StepBatcher(new LlamaDist.Worker.State.FairComputeGate(), 64, _ => 0, threads);
        Assert.Equal(expectedMs, batcher.SharedMachineWindow(lastPassMs).TotalMilliseconds, 6);
    }

    private static ForwardRequest Greedy(string session, int round)
    {
        var request = TokenStep(session, (ulong)round + 1, round, [Prompt[round]]);
        request.WantGreedyToken = true;
        return request;
    }

    private static async Task<string> OpenAsync(InProcessWorker worker, string hash, bool shareMachine)
    {
        var id = Guid.NewGuid().ToString("N");
        await worker.Client.OpenSessionAsync(new OpenSessionRequest
        {
            SessionId = id, RangeHash = hash, ContextSize = 64, MaxBatchTokens = 16, StagesShareMachine = shareMachine,
        });
        return id;
    }
}
