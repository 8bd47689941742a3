using System.Runtime.InteropServices;
using LlamaDist.Distributed.Protocol;
using static LlamaDist.Distributed.Tests.Worker.WorkerCalls;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>
/// Steps of several sessions that wait for the worker's device at the same time are evaluated in one pass, and
/// each session's reply is bit for bit what it gets alone. The steps are made to wait together by holding the
/// compute gate from the test until all of them are queued, so the batching is decided by the worker, not timing.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class StepBatchingTests
{
    private static readonly int[][] Prompts = [[1, 450, 4996], [1, 17354, 1701, 29891, 338], [1, 263], [1, 1243, 310, 3273]];

    private readonly WorkerModels models;

    public StepBatchingTests(WorkerModels models) => this.models = models;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ConcurrentSteps_OfSeveralSessions_RunInOnePass_AndEqualEachAlone(bool quantized)
    {
        string path = quantized ? models.Q8Path : models.F32Path;
        await using var worker = await InProcessWorker.StartAsync();
        await worker.Client.LoadRangeAsync(models.LoadRequest(path, models.Whole));
        var hash = models.Hash(path, models.Whole);
        var sessions = new string[Prompts.Length];
        var calls = new Grpc.Core.AsyncDuplexStreamingCall<ForwardRequest, ForwardReply>[Prompts.Length];
        for (int s = 0; s < Prompts.Length; s++)
        {
            sessions[s] = await OpenSessionAsync(worker, hash);
            calls[s] = worker.Client.Forward();
        }
        var evaluated = new List<string>();
        worker.Runtime.MicroBatchEvaluated = (session, _) => { lock (evaluated) { evaluated.Add(session); } };

        // Step 1: every prompt (different lengths) with its last logits; step 2: one greedy decode token each.
        var prompts = await TogetherAsync(worker, calls, s =>
        {
            var request = TokenStep(sessions[s], 1, 0, Prompts[s]);
            request.WantLogits = true;
            return request;
        });
        var next = prompts.Select(reply => ArgMax(reply.Logits.Data.Span)).ToArray();
        var decodes = await TogetherAsync(worker, calls, s =>
        {
            var request = TokenStep(sessions[s], 2, Prompts[s].Length, [next[s]]);
            request.WantGreedyToken = true;
            return request;
        });

        for (int s = 0; s < Prompts.Length; s++)
        {
            var expected = models.LocalLogits(path, [Prompts[s], [next[s]]]);
            Assert.Equal(MemoryMarshal.AsBytes(expected[0].AsSpan()).ToArray(), prompts[s].Logits.Data.ToByteArray());
            Assert.Equal(ArgMax(MemoryMarshal.AsBytes(expected[1].AsSpan())), decodes[s].GreedyToken);
        }
        // Two passes of all four sessions, not eight passes.
        Assert.Equal(2, worker.Runtime.Batcher.SharedPasses);
        Assert.Equal(2 * Prompts.Length, evaluated.Count);
        foreach (var call in calls)
        {
            await call.RequestStream.CompleteAsync();
            call.Dispose();
        }
    }

    /// <summary>Sends one step per session while the test holds the device, releases it once all are queued.</summary>
    private static async Task<ForwardReply[]> TogetherAsync(InProcessWorker worker,
        Grpc.Core.AsyncDuplexStreamingCall<ForwardRequest, ForwardReply>[] calls, Func<int, ForwardRequest> build)
    {
        Task<ForwardReply>[] replies;
        using (await worker.Runtime.Compute.EnterAsync(CancellationToken.None))
        {
            replies = calls.Select((call, s) => ExchangeAsync(call, build(s))).ToArray();
            var deadline = DateTime.UtcNow + Bound;
            while (worker.Runtime.Batcher.QueuedCount < calls.Length && DateTime.UtcNow < deadline)
            {
                await Task.Delay(5);
            }
            Assert.Equal(calls.Length, worker.Runtime.Batcher.QueuedCount);
        }
        return await Task.WhenAll(replies).WaitAsync(Bound);
    }

    private static int ArgMax(ReadOnlySpan<byte> logitBytes)
    {
        var logits = MemoryMarshal.Cast<byte, float>(logitBytes);
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best]) best = i;
        }
        return best;
    }
}
