using Grpc.Core;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Worker.Hosting;
using LlamaDist.Worker.State;
using static LlamaDist.Distributed.Tests.Worker.WorkerCalls;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>
/// OpenSession within the worker's admission limits: sessions, context (its own limit and the model's
/// training context) and memory. Each refusal leaves the worker serving a valid prompt correctly.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class AdmissionTests
{
    private readonly WorkerModels models;

    public AdmissionTests(WorkerModels models) => this.models = models;

    private string WholeHash => models.Hash(models.F32Path, models.Whole);

    private OpenSessionRequest Request(uint context = 64, uint maxBatch = 16) => new()
    {
        SessionId = Guid.NewGuid().ToString("N"),
        RangeHash = WholeHash,
        ContextSize = context,
        MaxBatchTokens = maxBatch,
    };

    [Fact]
    public async Task SessionsBeyondMaxSessions_AreResourceExhausted_UntilOneCloses()
    {
        await using var worker = await InProcessWorker.StartAsync(options: new WorkerOptions { MaxSessions = 2 });
        await worker.Client.LoadRangeAsync(models.LoadRequest(models.F32Path, models.Whole));
        var first = await OpenSessionAsync(worker, WholeHash);
        await OpenSessionAsync(worker, WholeHash);

        var error = await FailsAsync(() => worker.Client.OpenSessionAsync(Request()).ResponseAsync, StatusCode.ResourceExhausted);
        Assert.Contains("--max-sessions", error.Status.Detail);
        Assert.Equal(2u, (await worker.StatusAsync()).OpenSessions);
        Assert.Equal(2u, (await worker.StatusAsync()).MaxSessions);

        await worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = first });
        await AssertServesAsync(worker, models);
    }

    [Fact]
    public async Task ContextBeyondMaxContext_IsResourceExhausted()
    {
        await using var worker = await InProcessWorker.StartAsync(options: new WorkerOptions { MaxContext = 32 });
        await worker.Client.LoadRangeAsync(models.LoadRequest(models.F32Path, models.Whole));
        var error = await FailsAsync(() => worker.Client.OpenSessionAsync(Request(context: 33)).ResponseAsync, StatusCode.ResourceExhausted);
        Assert.Contains("--max-context", error.Status.Detail);
        Assert.Equal(0u, (await worker.StatusAsync()).OpenSessions);

        // At the limit it opens and evaluates.
        var session = await OpenSessionAsync(worker, WholeHash, context: 32);
        using var call = worker.Client.Forward();
        var step = TokenStep(session, 1, 0, Prompt);
        step.WantGreedyToken = true;
        Assert.Equal(models.LocalGreedy(models.F32Path, Prompt, 1)[0], (await ExchangeAsync(call, step)).GreedyToken);
        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task ContextBeyondTheTrainingContext_IsInvalidArgument()
    {
        await using var worker = await InProcessWorker.StartAsync(options: new WorkerOptions { MaxContext = 1 << 20 });
        await worker.Client.LoadRangeAsync(models.LoadRequest(models.F32Path, models.Whole));
        uint training = (uint)models.Config.ContextLength;
        var error = await FailsAsync(() => worker.Client.OpenSessionAsync(Request(context: training + 1)).ResponseAsync, StatusCode.InvalidArgument);
        Assert.Contains("training context", error.Status.Detail);

        // The training context itself is accepted.
        var session = await OpenSessionAsync(worker, WholeHash, context: training);
        Assert.True((await worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = session })).Closed);
        await AssertServesAsync(worker, models);
    }

    [Fact]
    public async Task ASessionBeyondTheMemoryLimit_IsResourceExhausted_AndAllocatesNothing()
    {
        // Room for the weights and one 64-token session, not for a 512-token one.
        var (weights, _) = models.Size(models.F32Path, models.Whole);
        long kvPerToken = 2L * models.LayerCount * models.Config.KvWidth * sizeof(ushort);
        long steps = 2L * 16 * models.Config.EmbeddingLength * sizeof(float) + models.Config.VocabularySize * sizeof(float);
        long limit = weights + 64 * kvPerToken + steps + 128 * kvPerToken;
        await using var worker = await InProcessWorker.StartAsync(options: new WorkerOptions { MaxMemoryBytes = limit });
        await worker.Client.LoadRangeAsync(models.LoadRequest(models.F32Path, models.Whole));
        var before = await worker.StatusAsync();

        var error = await FailsAsync(() => worker.Client.OpenSessionAsync(Request(context: 512)).ResponseAsync, StatusCode.ResourceExhausted);
        Assert.Equal(nameof(WorkerFailure.OutOfMemory), error.Failure());
        Assert.Contains("--max-memory", error.Status.Detail);
        Assert.Equal(before.FreeMemoryBytes, (await worker.StatusAsync()).FreeMemoryBytes);
        await AssertServesAsync(worker, models);
    }

    [Fact]
    public async Task WithoutMaxMemory_TheLimitIsWhatWasFreeAtStart()
    {
        await using var worker = await InProcessWorker.StartAsync();
        Assert.InRange(worker.Runtime.MemoryLimitBytes, 1, SystemMemory.Total());
        var handshake = await worker.Client.HandshakeAsync(new HandshakeRequest { Protocol = WireProtocol.Current });
        Assert.Equal((ulong)worker.Runtime.MemoryLimitBytes, handshake.Capabilities.TotalMemoryBytes);
        Assert.True(handshake.Capabilities.FreeMemoryBytes <= handshake.Capabilities.TotalMemoryBytes);
    }

    [Fact]
    public void SessionBytes_CountTheKvCacheAndStepBuffers()
    {
        var options = new WorkerOptions();
        using var threads = new Core.Quantization.ComputeThreads(1);
        using var range = new HostedRange("h", "f", Core.Gguf.GgufFile.Open(models.F32Path), models.Config, models.Whole, 0, new Core.Backends.CpuBackend(threads), "test",
            Core.Model.WeightMemory.Mapped);
        var config = models.Config;
        long expected = 2L * models.LayerCount * 64 * config.KvWidth * 2 + 2L * 16 * config.EmbeddingLength * 4 + config.VocabularySize * 4L;
        Assert.Equal(expected, AdmissionPolicy.SessionBytes(options, range, Request()));
        var zero = Request(context: 0);
        var error = Assert.Throws<RpcException>(() => AdmissionPolicy.SessionBytes(options, range, zero));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
    }
}
