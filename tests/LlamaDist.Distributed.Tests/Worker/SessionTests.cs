using Grpc.Core;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Worker.Hosting;
using static LlamaDist.Distributed.Tests.Worker.WorkerCalls;

namespace LlamaDist.Distributed.Tests.Worker;

[Collection(WorkerCollection.Name)]
[Trait("Category", "Slow")]  // left out of build.ps1 -Task Test -Fast
public sealed class SessionTests : IClassFixture<SharedWorker>
{
    private readonly WorkerModels models;
    private readonly InProcessWorker worker;

    public SessionTests(WorkerModels models, SharedWorker shared)
    {
        this.models = models;
        worker = shared.Worker;
    }

    private string WholeHash => models.Hash(models.F32Path, models.Whole);

    private async Task LoadWholeAsync() => await worker.Client.LoadRangeAsync(models.LoadRequest(models.F32Path, models.Whole));

    private OpenSessionRequest Request(string? id = null) => new()
    {
        SessionId = id ?? Guid.NewGuid().ToString("N"),
        RangeHash = WholeHash,
        ContextSize = 64,
        MaxBatchTokens = 16,
    };

    [Fact]
    public async Task Open_ReservesTheKvCacheAndCountsTheSession()
    {
        await LoadWholeAsync();
        var before = (await worker.StatusAsync()).OpenSessions;
        var request = Request();
        var reply = await worker.Client.OpenSessionAsync(request);

        // F16 K and V: 2 x layers x context x kv width x 2 bytes.
        Assert.Equal((ulong)(2 * models.LayerCount * 64 * models.Config.KvWidth * 2), reply.KvCacheBytes);
        Assert.Equal(before + 1, (await worker.StatusAsync()).OpenSessions);
        Assert.True((await worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = request.SessionId })).Closed);
        Assert.Equal(before, (await worker.StatusAsync()).OpenSessions);
    }

    [Fact]
    public async Task UnknownRange_IsNotFound()
    {
        var request = Request();
        request.RangeHash = new string('a', 64);
        await FailsAsync(() => worker.Client.OpenSessionAsync(request).ResponseAsync, StatusCode.NotFound);
    }

    [Theory]
    [InlineData("batch larger than the context")]
    [InlineData("no context")]
    [InlineData("no batch")]
    [InlineData("no id")]
    [InlineData("id too long")]
    [InlineData("next endpoint malformed")]
    [InlineData("context beyond what a worker accepts")]
    public async Task MalformedOpen_IsInvalidArgument(string problem)
    {
        await LoadWholeAsync();
        var request = Request();
        switch (problem)
        {
            case "batch larger than the context": request.MaxBatchTokens = request.ContextSize + 1; break;
            case "no context": request.ContextSize = 0; break;
            case "no batch": request.MaxBatchTokens = 0; break;
            case "no id": request.SessionId = ""; break;
            case "id too long": request.SessionId = new string('s', 129); break;
            case "next endpoint malformed": request.NextEndpoint = "worker b:70000"; break;
            case "context beyond what a worker accepts": request.ContextSize = uint.MaxValue; break;
        }
        var before = (await worker.StatusAsync()).OpenSessions;
        await FailsAsync(() => worker.Client.OpenSessionAsync(request).ResponseAsync, StatusCode.InvalidArgument);
        Assert.Equal(before, (await worker.StatusAsync()).OpenSessions);
    }

    [Fact]
    public async Task DuplicateId_IsFailedPrecondition()
    {
        await LoadWholeAsync();
        var request = Request();
        await worker.Client.OpenSessionAsync(request);
        var error = await FailsAsync(() => worker.Client.OpenSessionAsync(request).ResponseAsync, StatusCode.FailedPrecondition);
        Assert.Contains(request.SessionId, error.Status.Detail);
        await worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = request.SessionId });
    }

    [Fact]
    public async Task Close_IsTrueOnceThenFalse()
    {
        await LoadWholeAsync();
        var request = Request();
        await worker.Client.OpenSessionAsync(request);
        Assert.True((await worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = request.SessionId })).Closed);
        Assert.False((await worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = request.SessionId })).Closed);
        Assert.False((await worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = "never-opened" })).Closed);

        // The id is free again.
        await worker.Client.OpenSessionAsync(request);
        Assert.True((await worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = request.SessionId })).Closed);
    }

    [Fact]
    public async Task IdleSessions_AreCollected_StreamingOnesAreNot()
    {
        // 2 s: swept every second (a quarter of the timeout, at least 1 s), so collected within about 3 s.
        await using var idleWorker = await InProcessWorker.StartAsync(options: new WorkerOptions { SessionIdleTimeout = TimeSpan.FromSeconds(2) });
        await idleWorker.Client.LoadRangeAsync(models.LoadRequest(models.F32Path, models.Whole));
        var streaming = await OpenSessionAsync(idleWorker, WholeHash);
        using var call = idleWorker.Client.Forward();
        var step = TokenStep(streaming, 1, 0, Prompt);
        step.WantGreedyToken = true;
        await ExchangeAsync(call, step);
        var idle = await OpenSessionAsync(idleWorker, WholeHash);
        Assert.Equal(2u, (await idleWorker.StatusAsync()).OpenSessions);

        var status = await idleWorker.WaitForStatusAsync(s => s.OpenSessions < 2, Bound);
        Assert.Equal(1u, status.OpenSessions);
        Assert.False((await idleWorker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = idle })).Closed);

        // The session whose stream stays open was kept through more sweeps, and goes on where it was.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.Equal(1u, (await idleWorker.StatusAsync()).OpenSessions);
        var next = TokenStep(streaming, 2, Prompt.Length, [models.LocalGreedy(models.F32Path, Prompt, 1)[0]]);
        next.WantGreedyToken = true;
        var reply = await ExchangeAsync(call, next);
        Assert.Equal(models.LocalGreedy(models.F32Path, Prompt, 2)[1], reply.GreedyToken);
    }
}
