using Grpc.Core;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Worker.Hosting;
using static LlamaDist.Distributed.Tests.Worker.WorkerCalls;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>
/// Ranges and sessions belong to the owner that created them and live while it renews its lease: a silent
/// owner's sessions close (streamed or not) and its holds go, a range staying while another live owner holds it;
/// no owner can release or close another's. Leases of two seconds, swept every half second; waits are bounded.
/// </summary>
[Collection(WorkerCollection.Name)]
[Trait("Category", "Slow")]  // left out of build.ps1 -Task Test -Fast
public sealed class LeaseTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(2);

    private readonly WorkerModels models;

    public LeaseTests(WorkerModels models) => this.models = models;

    private string WholeHash => models.Hash(models.F32Path, models.Whole);

    private static Task<InProcessWorker> StartAsync() => InProcessWorker.StartAsync(options: new WorkerOptions { LeaseTimeout = Lease });

    private async Task LoadAsync(InProcessWorker worker, string owner)
    {
        var request = models.LoadRequest(models.F32Path, models.Whole);
        request.OwnerId = owner;
        Assert.Equal(RangeLoadState.Loaded, (await worker.Client.LoadRangeAsync(request)).State);
    }

    private async Task<string> OpenAsync(InProcessWorker worker, string owner)
    {
        var id = Guid.NewGuid().ToString("N");
        await worker.Client.OpenSessionAsync(new OpenSessionRequest
        {
            SessionId = id, RangeHash = WholeHash, ContextSize = 64, MaxBatchTokens = 16, OwnerId = owner,
        });
        return id;
    }

    [Fact]
    public async Task ASilentOwner_LosesItsSessionsAndRanges_AfterTheLease()
    {
        await using var worker = await StartAsync();
        await LoadAsync(worker, "coordinator-a");
        await OpenAsync(worker, "coordinator-a");  // opened, never streamed
        var streamed = await OpenAsync(worker, "coordinator-a");
        using var call = worker.Client.Forward();
        var step = TokenStep(streamed, 1, 0, Prompt);
        step.WantGreedyToken = true;
        await ExchangeAsync(call, step);  // a stream left open, as a frozen coordinator leaves it
        Assert.Equal(2u, (await worker.StatusAsync()).OpenSessions);
        Assert.Equal((ulong)Lease.TotalMilliseconds, (await worker.StatusAsync()).LeaseMilliseconds);

        var status = await worker.WaitForStatusAsync(s => s.OpenSessions == 0 && s.Ranges.Count == 0, Lease * 5);
        Assert.Equal(0u, status.OpenSessions);
        Assert.Empty(status.Ranges);
        await AssertServesAsync(worker, models);
    }

    [Fact]
    public async Task Renewals_KeepAnOwnersRangesAndSessions()
    {
        await using var worker = await StartAsync();
        await LoadAsync(worker, "coordinator-b");
        var session = await OpenAsync(worker, "coordinator-b");
        for (int i = 0; i < 8; i++)
        {
            var reply = await worker.Client.RenewLeaseAsync(new RenewLeaseRequest { OwnerId = "coordinator-b" });
            Assert.Equal((ulong)Lease.TotalMilliseconds, reply.LeaseMilliseconds);
            Assert.Equal(1u, reply.Ranges);
            Assert.Equal(1u, reply.Sessions);
            await Task.Delay(Lease / 4);
        }
        // Two leases later everything is still there, and the session still evaluates.
        using var call = worker.Client.Forward();
        var step = TokenStep(session, 1, 0, Prompt);
        step.WantGreedyToken = true;
        Assert.Equal(models.LocalGreedy(models.F32Path, Prompt, 1)[0], (await ExchangeAsync(call, step)).GreedyToken);
        Assert.Single((await worker.StatusAsync()).Ranges);
    }

    [Fact]
    public async Task ARangeHeldByALiveOwner_StaysWhenAnotherOwnerExpires()
    {
        await using var worker = await StartAsync();
        await LoadAsync(worker, "dies");
        await LoadAsync(worker, "lives");
        var doomed = await OpenAsync(worker, "dies");
        var kept = await OpenAsync(worker, "lives");
        var deadline = DateTime.UtcNow + Lease * 5;
        WorkerStatus status;
        do
        {
            var reply = await worker.Client.RenewLeaseAsync(new RenewLeaseRequest { OwnerId = "lives" });
            status = await worker.StatusAsync();
            if (status.OpenSessions == 1)
            {
                break;
            }
            await Task.Delay(Lease / 4);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Equal(1u, status.OpenSessions);
        Assert.Single(status.Ranges);
        var renewed = await worker.Client.RenewLeaseAsync(new RenewLeaseRequest { OwnerId = "lives" });
        Assert.Equal(1u, renewed.Ranges);
        Assert.Equal(1u, renewed.Sessions);
        Assert.False((await worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = doomed, OwnerId = "dies" })).Closed);
        Assert.True((await worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = kept, OwnerId = "lives" })).Closed);
    }

    [Fact]
    public async Task AnotherOwner_CannotReleaseTheRangeOrCloseTheSession()
    {
        await using var worker = await InProcessWorker.StartAsync();
        await LoadAsync(worker, "owner");
        var session = await OpenAsync(worker, "owner");

        var release = await FailsAsync(() => worker.Client.ReleaseRangeAsync(new ReleaseRangeRequest { RangeHash = WholeHash, OwnerId = "neighbour" }).ResponseAsync,
            StatusCode.PermissionDenied);
        Assert.Equal(nameof(WorkerFailure.Rejected), release.Failure());
        await FailsAsync(() => worker.Client.ReleaseRangeAsync(new ReleaseRangeRequest { RangeHash = WholeHash }).ResponseAsync, StatusCode.PermissionDenied);
        await FailsAsync(() => worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = session, OwnerId = "neighbour" }).ResponseAsync,
            StatusCode.PermissionDenied);
        Assert.Single((await worker.StatusAsync()).Ranges);
        Assert.Equal(1u, (await worker.StatusAsync()).OpenSessions);

        // The owner may.
        Assert.True((await worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = session, OwnerId = "owner" })).Closed);
        var freed = await worker.Client.ReleaseRangeAsync(new ReleaseRangeRequest { RangeHash = WholeHash, OwnerId = "owner" });
        Assert.True(freed.FreedBytes > 0);
        Assert.Empty((await worker.StatusAsync()).Ranges);
    }

    [Fact]
    public async Task AStreamedRange_BelongsToTheOwnerWhoseLoadAskedForIt()
    {
        await using var worker = await InProcessWorker.StartAsync();
        var request = models.StreamRequest(models.F32Path, models.Whole);
        request.OwnerId = "streamer";
        Assert.Equal(RangeLoadState.NeedsWeights, (await worker.Client.LoadRangeAsync(request)).State);
        using (var call = worker.Client.StreamWeights())
        {
            foreach (var chunk in models.Chunks(models.F32Path, models.Whole))
            {
                await call.RequestStream.WriteAsync(chunk).WaitAsync(Bound);
            }
            await call.RequestStream.CompleteAsync().WaitAsync(Bound);
            Assert.Equal(RangeLoadState.Loaded, (await call.ResponseAsync.WaitAsync(Bound)).State);
        }

        await FailsAsync(() => worker.Client.ReleaseRangeAsync(new ReleaseRangeRequest { RangeHash = WholeHash, OwnerId = "other" }).ResponseAsync,
            StatusCode.PermissionDenied);
        var renewed = await worker.Client.RenewLeaseAsync(new RenewLeaseRequest { OwnerId = "streamer" });
        Assert.Equal(1u, renewed.Ranges);
        Assert.True((await worker.Client.ReleaseRangeAsync(new ReleaseRangeRequest { RangeHash = WholeHash, OwnerId = "streamer" })).FreedBytes > 0);
        Assert.Empty((await worker.StatusAsync()).Ranges);
    }

    [Fact]
    public async Task AnOwnerIdTooLong_IsInvalidArgument_AndNotEchoed()
    {
        await using var worker = await InProcessWorker.StartAsync();
        var owner = new string('o', 100_000);
        var error = await FailsAsync(() => worker.Client.RenewLeaseAsync(new RenewLeaseRequest { OwnerId = owner }).ResponseAsync, StatusCode.InvalidArgument);
        Assert.True(error.Status.Detail.Length < 200, error.Status.Detail);
        var request = models.LoadRequest(models.F32Path, models.Whole);
        request.OwnerId = owner;
        await FailsAsync(() => worker.Client.LoadRangeAsync(request).ResponseAsync, StatusCode.InvalidArgument);
        Assert.Empty((await worker.StatusAsync()).Ranges);
    }

    [Fact]
    public async Task ALeaseKeeper_RenewsForItsClient_AndOnceStoppedTheWorkerFreesEverything()
    {
        await using var worker = await StartAsync();
        using var client = await worker.ConnectAsync();
        var load = models.LoadRequest(models.F32Path, models.Whole);
        await client.LoadRangeAsync(load, CancellationToken.None);
        Assert.Equal(client.OwnerId, load.OwnerId);
        await client.OpenSessionAsync(new OpenSessionRequest { SessionId = "kept", RangeHash = WholeHash, ContextSize = 64, MaxBatchTokens = 16 },
            CancellationToken.None);

        var keeper = new LeaseKeeper([client]);
        await Task.Delay(Lease * 2);
        Assert.True(keeper.Renewals >= 3, $"{keeper.Renewals} renewals in two leases");
        var status = await worker.StatusAsync();
        Assert.Single(status.Ranges);
        Assert.Equal(1u, status.OpenSessions);

        keeper.Dispose();  // the coordinator dies without releasing anything
        status = await worker.WaitForStatusAsync(s => s.OpenSessions == 0 && s.Ranges.Count == 0, Lease * 5);
        Assert.Equal(0u, status.OpenSessions);
        Assert.Empty(status.Ranges);
    }
}
