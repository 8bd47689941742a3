using System.Diagnostics;
using Grpc.Core;
using LlamaDist.Core.Gguf;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Ring;
using LlamaDist.Distributed.Weights;
using static LlamaDist.Distributed.Tests.Worker.WorkerCalls;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>
/// Two in-process workers holding the two halves of the F32 model, the first forwarding to the second by
/// endpoint name (routed to the second's in-memory server), driven by the coordinator's <see cref="RingSession"/>.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class RingTests : IAsyncLifetime
{
    private readonly WorkerModels models;
    private InProcessWorker first = null!, second = null!;
    private WorkerClient firstClient = null!, secondClient = null!;

    public RingTests(WorkerModels models) => this.models = models;

    public async Task InitializeAsync()
    {
        first = await InProcessWorker.StartAsync("worker-a");
        second = await InProcessWorker.StartAsync("worker-b");
        InProcessWorker.Route(first, second);
        firstClient = await first.ConnectAsync();
        secondClient = await second.ConnectAsync();

        // The first stage reads its own copy; the second has none and is sent its layers.
        Assert.Equal(RangeLoadState.Loaded, (await firstClient.LoadRangeAsync(models.LoadRequest(models.F32Path, models.FirstHalf), default)).State);
        Assert.Equal(RangeLoadState.NeedsWeights, (await secondClient.LoadRangeAsync(models.StreamRequest(models.F32Path, models.SecondHalf), default)).State);
        using var file = GgufFile.Open(models.F32Path);
        var streamed = await secondClient.StreamWeightsAsync(file, RangeTensors.Select(file, models.Config, models.SecondHalf),
            models.Hash(models.F32Path, models.SecondHalf), null, default);
        Assert.Equal(RangeLoadState.Loaded, streamed.State);
    }

    public async Task DisposeAsync()
    {
        firstClient.Dispose();
        secondClient.Dispose();
        await first.DisposeAsync();
        await second.DisposeAsync();
    }

    private RingStage[] Stages =>
    [
        new(firstClient, models.FirstHalf, models.Hash(models.F32Path, models.FirstHalf)),
        new(secondClient, models.SecondHalf, models.Hash(models.F32Path, models.SecondHalf)),
    ];

    private RingOptions Options => new()
    {
        ContextSize = 64,
        MaxBatchTokens = 16,
        EmbeddingLength = models.Config.EmbeddingLength,
        VocabularySize = models.Config.VocabularySize,
        Encoding = ActivationEncoding.F32,
    };

    private static Task<RingStepResult> StepAsync(RingSession ring, int[] tokens, RingOutput output) =>
        Task.Run(() => ring.Step(tokens, output, CancellationToken.None)).WaitAsync(Bound);

    [Fact]
    public async Task SplitRing_MatchesTheWholeModelRunLocally()
    {
        var greedy = models.LocalGreedy(models.F32Path, Prompt, 3);
        var local = models.LocalLogits(models.F32Path, [Prompt, [greedy[0]], [greedy[1]]]);

        using (var ring = await RingSession.OpenAsync(Stages, null, Options, CancellationToken.None).WaitAsync(Bound))
        {
            Assert.Equal(1u, (await first.StatusAsync()).OpenSessions);
            Assert.Equal(1u, (await second.StatusAsync()).OpenSessions);

            var prompt = await StepAsync(ring, Prompt, RingOutput.LastLogits);
            Assert.Equal(local[0], prompt.Logits);  // F32 hand-off: exact
            Assert.Equal(2, prompt.Stages.Count);
            Assert.Equal(greedy[1], (await StepAsync(ring, [greedy[0]], RingOutput.GreedyToken)).GreedyToken);
            var last = await StepAsync(ring, [greedy[1]], RingOutput.LastLogits);
            Assert.Equal(local[2], last.Logits);
            Assert.Equal(Prompt.Length + 2, ring.Position);
        }

        // Disposing the ring frees the session on both stages.
        Assert.Equal(0u, (await first.WaitForStatusAsync(s => s.OpenSessions == 0, Bound)).OpenSessions);
        Assert.Equal(0u, (await second.WaitForStatusAsync(s => s.OpenSessions == 0, Bound)).OpenSessions);

        // Every hop was counted: the first stage received the coordinator's steps and sent them on,
        // the second received them and sent the results to the coordinator.
        // (A stage counts a message once its write completed, which may be just after the coordinator read it.)
        var a = await first.WaitForStatusAsync(s => s.ForwardMessagesSent >= 3, Bound);
        var b = await second.WaitForStatusAsync(s => s.ForwardMessagesSent >= 3, Bound);
        Assert.Equal((3ul, 3ul), (a.ForwardMessagesReceived, a.ForwardMessagesSent));
        Assert.Equal((3ul, 3ul), (b.ForwardMessagesReceived, b.ForwardMessagesSent));
        Assert.Equal(a.ForwardBytesSent, b.ForwardBytesReceived);
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(2, false)]
    public async Task StagesAreToldWhetherTheyShareAMachine(int machines, bool shared)
    {
        var options = Options with { Costs = new RingCostModel(machines, [1.0, 1.0]) };
        using var ring = await RingSession.OpenAsync(Stages, null, options, CancellationToken.None).WaitAsync(Bound);
        Assert.Equal(shared, first.Runtime.GetSession(ring.SessionId).StagesShareMachine);
        Assert.Equal(shared, second.Runtime.GetSession(ring.SessionId).StagesShareMachine);
    }

    [Fact]
    public async Task LastStageLosingTheSession_BreaksTheRingNamingIt()
    {
        using var ring = await RingSession.OpenAsync(Stages, null, Options, CancellationToken.None).WaitAsync(Bound);
        await StepAsync(ring, Prompt, RingOutput.GreedyToken);
        Assert.True((await secondClient.CloseSessionAsync(ring.SessionId, default)).Closed);

        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAnyAsync<Exception>(() => StepAsync(ring, [5], RingOutput.GreedyToken));
        Assert.True(error is WorkerCallException or RingBrokenException, $"Unexpected {error.GetType().Name}: {error.Message}");
        Assert.Contains(second.Endpoint.ToString(), error.Message);
        Assert.True(clock.Elapsed < Bound);

        // The ring stays broken, and the first stage lets go of the session too.
        Assert.Throws<RingBrokenException>(() => ring.Step([6], RingOutput.GreedyToken, CancellationToken.None));
        Assert.Equal(0u, (await first.WaitForStatusAsync(s => s.OpenSessions == 0, Bound)).OpenSessions);
        await AssertServesAsync(first, models);
    }

    [Fact]
    public async Task NextStageRefusingAStep_FailsTheFirstStagesStreamWithItsStatus()
    {
        // The first stage forwards to a second stage that has no such session: the refusal travels back up.
        var session = await OpenSessionAsync(first, models.Hash(models.F32Path, models.FirstHalf), next: second.Endpoint.ToString());
        using (var call = first.Client.Forward())
        {
            var step = TokenStep(session, 1, 0, Prompt);
            step.WantGreedyToken = true;
            var error = await StepFailsAsync(call, step, StatusCode.NotFound);
            Assert.StartsWith($"Worker {second.Endpoint}:", error.Status.Detail);
            Assert.Equal(nameof(WorkerFailure.Rejected), error.Failure());

            var failure = WorkerCallException.FromRpc(first.Endpoint.ToString(), error);
            Assert.Equal(WorkerFailure.Rejected, failure.Failure);
            Assert.Contains(second.Endpoint.ToString(), failure.Message);
        }
        Assert.Equal(0u, (await first.WaitForStatusAsync(s => s.OpenSessions == 0, Bound)).OpenSessions);
    }

    [Fact]
    public async Task SecondResultStream_IsRefusedAndTheRingGoesOn()
    {
        using var ring = await RingSession.OpenAsync(Stages, null, Options, CancellationToken.None).WaitAsync(Bound);
        await StepAsync(ring, Prompt, RingOutput.GreedyToken);

        // A result stream is attached once per session: the last stage refuses another without touching the ring.
        using (var duplicate = second.Client.Forward())
        {
            await StepFailsAsync(duplicate, new ForwardRequest { SessionId = ring.SessionId, AttachResultStream = true }, StatusCode.FailedPrecondition);
        }
        Assert.Equal(1u, (await second.StatusAsync()).OpenSessions);
        Assert.Equal(models.LocalGreedy(models.F32Path, [.. Prompt, 5], 1)[0], (await StepAsync(ring, [5], RingOutput.GreedyToken)).GreedyToken);
    }
}
