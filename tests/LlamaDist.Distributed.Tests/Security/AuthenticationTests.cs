using Google.Protobuf;
using Grpc.Core;
using LlamaDist.Core.Gguf;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Tests.Worker;
using LlamaDist.Distributed.Weights;
using LlamaDist.Worker.Hosting;
using static LlamaDist.Distributed.Tests.Worker.WorkerCalls;

namespace LlamaDist.Distributed.Tests.Security;

/// <summary>
/// A worker started with a cluster token: every RPC without it or with another is refused UNAUTHENTICATED before
/// any handler runs (nothing changes in the worker), the right token works end to end through a two-stage ring,
/// handshakes prove the token both ways, and a worker forwards only to a next stage that proves the same token.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class AuthenticationTests : IAsyncLifetime
{
    private const string Token = "correct-horse-battery-staple-2026";
    private const string OtherToken = "another-cluster-secret-0123456789";
    private readonly WorkerModels models;
    private InProcessWorker first = null!, second = null!;

    public AuthenticationTests(WorkerModels models) => this.models = models;

    public async Task InitializeAsync()
    {
        first = await InProcessWorker.StartAsync("secure-a", new WorkerOptions { Token = Token });
        second = await InProcessWorker.StartAsync("secure-b", new WorkerOptions { Token = Token });
        InProcessWorker.Route(first, second);
    }

    public async Task DisposeAsync()
    {
        await first.DisposeAsync();
        await second.DisposeAsync();
    }

    public static TheoryData<string?> WrongTokens() => new() { null, OtherToken, "", Token + "x", Token[..^1] };

    [Theory]
    [MemberData(nameof(WrongTokens))]
    public async Task Every_rpc_without_the_token_is_refused_and_changes_nothing(string? token)
    {
        using var channel = first.OpenChannel(token: string.IsNullOrEmpty(token) ? null : token);
        var client = new LlamaWorker.LlamaWorkerClient(channel);
        var hash = models.Hash(models.F32Path, models.Whole);

        var calls = new (string Name, Func<Task> Call)[]
        {
            ("Handshake", async () => await client.HandshakeAsync(new HandshakeRequest { Protocol = WireProtocol.Current, AuthToken = Token })),
            ("GetStatus", async () => await client.GetStatusAsync(new GetStatusRequest())),
            ("LoadRange", async () => await client.LoadRangeAsync(models.LoadRequest(models.F32Path, models.Whole))),
            ("StreamWeights", async () =>
            {
                using var call = client.StreamWeights();
                // The refusal may end the call before the write lands; the status is what the response says.
                await WriteIgnoringEndedCallAsync(() => call.RequestStream.WriteAsync(new WeightChunk { RangeHash = hash, TensorName = "token_embd.weight", Data = ByteString.CopyFrom(new byte[16]) }));
                await WriteIgnoringEndedCallAsync(() => call.RequestStream.CompleteAsync());
                await call.ResponseAsync;
            }),
            ("ReleaseRange", async () => await client.ReleaseRangeAsync(new ReleaseRangeRequest { RangeHash = hash })),
            ("OpenSession", async () => await client.OpenSessionAsync(new OpenSessionRequest { SessionId = "s", RangeHash = hash, ContextSize = 8, MaxBatchTokens = 4 })),
            ("CloseSession", async () => await client.CloseSessionAsync(new CloseSessionRequest { SessionId = "s" })),
            ("RenewLease", async () => await client.RenewLeaseAsync(new RenewLeaseRequest { OwnerId = "o" })),
            ("Forward", async () =>
            {
                using var call = client.Forward();
                await WriteIgnoringEndedCallAsync(() => call.RequestStream.WriteAsync(TokenStep("s", 1, 0, Prompt)));
                await call.ResponseStream.MoveNext(CancellationToken.None);
            }),
        };
        foreach (var (name, call) in calls)
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => call().WaitAsync(Bound));
            Assert.True(error.StatusCode == StatusCode.Unauthenticated, $"{name}: {error.StatusCode} {error.Status.Detail}");
            Assert.DoesNotContain(Token, error.Status.Detail, StringComparison.Ordinal);
        }

        using var coordinator = await first.ConnectAsync(Token);
        var status = await coordinator.GetStatusAsync(default);
        Assert.Empty(status.Ranges);
        Assert.Equal(0u, status.OpenSessions);
        Assert.Equal(0ul, status.ForwardMessagesReceived);
    }

    private static async Task WriteIgnoringEndedCallAsync(Func<Task> write)
    {
        try
        {
            await write();
        }
        catch (Exception exception) when (exception is OperationCanceledException or InvalidOperationException or RpcException)
        {
            // The call already ended: its response carries the status the test checks.
        }
    }

    [Fact]
    public async Task The_right_token_runs_a_two_stage_ring_to_the_local_result()
    {
        using var firstClient = await first.ConnectAsync(Token);
        using var secondClient = await second.ConnectAsync(Token);
        Assert.Equal(RangeLoadState.Loaded, (await firstClient.LoadRangeAsync(models.LoadRequest(models.F32Path, models.FirstHalf), default)).State);
        Assert.Equal(RangeLoadState.NeedsWeights, (await secondClient.LoadRangeAsync(models.StreamRequest(models.F32Path, models.SecondHalf), default)).State);
        using (var file = GgufFile.Open(models.F32Path))
        {
            var streamed = await secondClient.StreamWeightsAsync(file, RangeTensors.Select(file, models.Config, models.SecondHalf),
                models.Hash(models.F32Path, models.SecondHalf), null, default);
            Assert.Equal(RangeLoadState.Loaded, streamed.State);
        }

        var stages = new Ring.RingStage[]
        {
            new(firstClient, models.FirstHalf, models.Hash(models.F32Path, models.FirstHalf)),
            new(secondClient, models.SecondHalf, models.Hash(models.F32Path, models.SecondHalf)),
        };
        var options = new Ring.RingOptions
        {
            ContextSize = 64, MaxBatchTokens = 16, EmbeddingLength = models.Config.EmbeddingLength,
            VocabularySize = models.Config.VocabularySize, Encoding = ActivationEncoding.F32,
        };
        var greedy = new List<int>();
        using (var ring = await Ring.RingSession.OpenAsync(stages, null, options, CancellationToken.None).WaitAsync(Bound))
        {
            int[] next = Prompt;
            for (int i = 0; i < 4; i++)
            {
                var tokens = next;
                var step = await Task.Run(() => ring.Step(tokens, Ring.RingOutput.GreedyToken, CancellationToken.None)).WaitAsync(Bound);
                greedy.Add(step.GreedyToken);
                next = [step.GreedyToken];
            }
        }
        Assert.True((await second.StatusAsync()).ForwardMessagesReceived >= 4);
        Assert.Equal(models.LocalGreedy(models.F32Path, Prompt, 4), greedy);
    }

    [Fact]
    public async Task Handshakes_prove_the_token_both_ways()
    {
        using var good = await first.ConnectAsync(Token);
        Assert.Equal(32, good.Handshake.ChallengeResponse.Length);

        // A caller with a token refuses a worker that cannot prove it holds the same one.
        await using var open = await InProcessWorker.StartAsync("open-worker");
        var impostor = await Assert.ThrowsAsync<WorkerCallException>(() => open.ConnectAsync(Token));
        Assert.Equal(WorkerFailure.AuthenticationFailed, impostor.Failure);

        var refused = await Assert.ThrowsAsync<WorkerCallException>(() => first.ConnectAsync(OtherToken));
        Assert.Equal(WorkerFailure.AuthenticationFailed, refused.Failure);
    }

    [Fact]
    public async Task A_worker_forwards_only_to_a_next_stage_that_proves_the_same_token()
    {
        await using var stranger = await InProcessWorker.StartAsync("stranger", new WorkerOptions { Token = OtherToken });
        await using var open = await InProcessWorker.StartAsync("open-stage");
        InProcessWorker.Route(first, second, stranger, open);
        using var client = await first.ConnectAsync(Token);
        var hash = models.Hash(models.F32Path, models.FirstHalf);
        Assert.Equal(RangeLoadState.Loaded, (await client.LoadRangeAsync(models.LoadRequest(models.F32Path, models.FirstHalf), default)).State);

        foreach (var next in new[] { stranger.Endpoint, open.Endpoint })
        {
            var error = await Assert.ThrowsAsync<WorkerCallException>(() => client.OpenSessionAsync(new OpenSessionRequest
            {
                SessionId = Guid.NewGuid().ToString("N"), RangeHash = hash, ContextSize = 16, MaxBatchTokens = 8, NextEndpoint = next.ToString(),
            }, default));
            Assert.Contains($"next stage {next}", error.Message, StringComparison.Ordinal);
            Assert.Contains("not a worker of this cluster", error.Message, StringComparison.Ordinal);
        }
        Assert.Equal(0u, (await client.GetStatusAsync(default)).OpenSessions);
        Assert.Equal(0ul, (await open.StatusAsync()).ForwardMessagesReceived);

        // The same request naming a worker of the cluster opens.
        await client.OpenSessionAsync(new OpenSessionRequest
        {
            SessionId = Guid.NewGuid().ToString("N"), RangeHash = hash, ContextSize = 16, MaxBatchTokens = 8, NextEndpoint = second.Endpoint.ToString(),
        }, default);
        Assert.Equal(1u, (await client.GetStatusAsync(default)).OpenSessions);
        await client.ReleaseRangeAsync(hash, default);
    }
}
