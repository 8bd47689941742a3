using System.Runtime.InteropServices;
using Grpc.Core;
using LlamaDist.Distributed.Protocol;
using static LlamaDist.Distributed.Tests.Worker.WorkerCalls;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>
/// cache_only steps (the earlier micro-batches of a pipelined prompt) fill the KV cache and answer with an empty
/// reply; the step after them gives the logits of the whole prompt, bit for bit; asking for an output as well is refused.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class CacheOnlyStepTests
{
    private readonly WorkerModels models;

    public CacheOnlyStepTests(WorkerModels models) => this.models = models;

    [Fact]
    public async Task CacheOnlyMicroBatches_ThenTheLastOne_GiveThePromptsLogits()
    {
        await using var worker = await InProcessWorker.StartAsync();
        await worker.Client.LoadRangeAsync(models.LoadRequest(models.F32Path, models.Whole));
        var session = await OpenSessionAsync(worker, models.Hash(models.F32Path, models.Whole));
        using var call = worker.Client.Forward();

        var first = TokenStep(session, 1, 0, [1, 450, 4996]);
        first.CacheOnly = true;
        var second = TokenStep(session, 2, 3, [17354, 1701]);
        second.CacheOnly = true;
        var last = TokenStep(session, 3, 5, [29891]);
        last.WantLogits = true;

        foreach (var step in new[] { first, second })
        {
            var reply = await ExchangeAsync(call, step);
            Assert.Equal(ForwardReply.OutputOneofCase.None, reply.OutputCase);
            Assert.Single(reply.Stages);
        }
        var logits = await ExchangeAsync(call, last);
        var expected = models.LocalLogits(models.F32Path, [[1, 450, 4996, 17354, 1701, 29891]])[0];
        Assert.Equal(MemoryMarshal.AsBytes(expected.AsSpan()).ToArray(), logits.Logits.Data.ToByteArray());

        var contradictory = TokenStep(session, 4, 6, [13]);
        contradictory.CacheOnly = true;
        contradictory.WantGreedyToken = true;
        await StepFailsAsync(call, contradictory, StatusCode.InvalidArgument);
    }
}
