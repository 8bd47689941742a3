using Grpc.Core;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using static LlamaDist.Distributed.Tests.Worker.WorkerCalls;

namespace LlamaDist.Distributed.Tests.Worker;

[Collection(WorkerCollection.Name)]
public sealed class LoadRangeTests : IClassFixture<SharedWorker>
{
    private readonly WorkerModels models;
    private readonly InProcessWorker worker;

    public LoadRangeTests(WorkerModels models, SharedWorker shared)
    {
        this.models = models;
        worker = shared.Worker;
    }

    public static TheoryData<string> MalformedCases =>
    [
        "hash too short", "hash not hex", "no model", "no config", "no layers", "not llama", "config beyond int",
        "span past the last layer", "span beyond int", "span of another layer count", "empty span",
    ];

    [Theory]
    [MemberData(nameof(MalformedCases))]
    public async Task MalformedRequest_IsInvalidArgument(string problem)
    {
        var request = models.LoadRequest(models.F32Path, models.Whole);
        switch (problem)
        {
            case "hash too short": request.Model.RangeHash = request.Model.RangeHash[..63]; break;
            case "hash not hex": request.Model.RangeHash = "g" + request.Model.RangeHash[1..]; break;
            case "no model": request.Model = null; break;
            case "no config": request.Config = null; break;
            case "no layers": request.Layers = null; break;
            case "not llama": request.Config.Architecture = "gpt2"; break;
            case "config beyond int": request.Config.EmbeddingLength = uint.MaxValue; break;
            case "span past the last layer": request.Layers.EndExclusive = (uint)models.LayerCount + 1; break;
            case "span beyond int": request.Layers.Start = uint.MaxValue; break;
            case "span of another layer count": request.Layers.ModelLayerCount = (uint)models.LayerCount + 1; break;
            case "empty span": request.Layers.EndExclusive = 0; break;
        }

        var error = await FailsAsync(() => worker.Client.LoadRangeAsync(request).ResponseAsync, StatusCode.InvalidArgument);
        Assert.Equal(nameof(WorkerFailure.Rejected), error.Failure());
        Assert.DoesNotContain((await worker.StatusAsync()).Ranges, r => r.Model.RangeHash == request.Model?.RangeHash);
    }

    [Fact]
    public async Task CopyThatHashesDifferently_IsModelMismatch()
    {
        // The coordinator's hash is of the F32 file's layers; the worker's own model path holds the Q8_0 file.
        await using var own = await InProcessWorker.StartAsync("own-copy", new LlamaDist.Worker.Hosting.WorkerOptions { ModelPath = models.Q8Path });
        var request = models.LoadRequest(models.F32Path, models.FirstHalf);
        var error = await FailsAsync(() => own.Client.LoadRangeAsync(request).ResponseAsync, StatusCode.FailedPrecondition);

        Assert.Equal(nameof(WorkerFailure.ModelMismatch), error.Failure());
        Assert.Contains(models.Q8Path, error.Status.Detail);
        Assert.DoesNotContain((await own.StatusAsync()).Ranges, r => r.Model.RangeHash == request.Model.RangeHash);
    }

    [Fact]
    public async Task A_path_the_caller_names_that_does_not_hash_right_answers_as_a_missing_file()
    {
        // Naming a file the worker cannot use must tell the caller nothing a missing file would not.
        var wrongFile = models.LoadRequest(models.F32Path, models.FirstHalf);
        wrongFile.WorkerPath = models.Q8Path;
        var missing = models.LoadRequest(models.F32Path, models.FirstHalf);
        missing.WorkerPath = Path.Combine(models.Directory, "no-such-model.gguf");
        var wrong = await FailsAsync(() => worker.Client.LoadRangeAsync(wrongFile).ResponseAsync, StatusCode.FailedPrecondition);
        var absent = await FailsAsync(() => worker.Client.LoadRangeAsync(missing).ResponseAsync, StatusCode.FailedPrecondition);
        Assert.Equal(absent.Status.Detail, wrong.Status.Detail);
        Assert.Equal(absent.Failure(), wrong.Failure());
        Assert.DoesNotContain(models.Q8Path, wrong.Status.Detail);
    }

    [Fact]
    public async Task NoCopy_WithStreamOffered_NeedsWeightsUntilReleased()
    {
        var request = models.StreamRequest(models.F32Path, models.SecondHalf);
        var reply = await worker.Client.LoadRangeAsync(request);

        Assert.Equal(RangeLoadState.NeedsWeights, reply.State);
        Assert.Equal(0ul, reply.WeightBytes);
        var listed = Assert.Single((await worker.StatusAsync()).Ranges, r => r.Model.RangeHash == request.Model.RangeHash);
        Assert.Equal(RangeLoadState.NeedsWeights, listed.State);

        await worker.Client.ReleaseRangeAsync(new ReleaseRangeRequest { RangeHash = request.Model.RangeHash });
        Assert.DoesNotContain((await worker.StatusAsync()).Ranges, r => r.Model.RangeHash == request.Model.RangeHash);
    }

    [Theory]
    [InlineData("")]
    [InlineData("/nonexistent/llamadist/tiny-f32.gguf")]
    public async Task NoCopy_WithoutStream_IsFailedPrecondition(string workerPath)
    {
        var request = models.LoadRequest(models.F32Path, models.SecondHalf);
        request.WorkerPath = workerPath;
        var error = await FailsAsync(() => worker.Client.LoadRangeAsync(request).ResponseAsync, StatusCode.FailedPrecondition);

        Assert.Equal(nameof(WorkerFailure.Rejected), error.Failure());
        Assert.Contains("no weight stream", error.Status.Detail);
    }

    [Fact]
    public async Task SameRangeTwice_IsHeldTwiceAndFreedByTheSecondRelease()
    {
        var request = models.LoadRequest(models.Q8Path, models.Whole);
        var hash = request.Model.RangeHash;
        var (bytes, _) = models.Size(models.Q8Path, models.Whole);

        var first = await worker.Client.LoadRangeAsync(request);
        Assert.Equal(RangeLoadState.Loaded, first.State);
        Assert.Equal((ulong)bytes, first.WeightBytes);
        Assert.Contains(models.Q8Path, first.Message);
        var second = await worker.Client.LoadRangeAsync(request);
        Assert.Equal(RangeLoadState.Loaded, second.State);
        Assert.Equal("already loaded", second.Message);
        Assert.Equal((ulong)bytes, second.WeightBytes);

        var listed = Assert.Single((await worker.StatusAsync()).Ranges, r => r.Model.RangeHash == hash);
        Assert.Equal(RangeLoadState.Loaded, listed.State);
        Assert.Equal((ulong)bytes, listed.WeightBytes);
        Assert.Equal(ProtocolMapping.ToMessage(models.Whole, models.LayerCount), listed.Layers);

        // A session on it survives the first release (the other holder still uses the range) and closes with the second.
        var session = await OpenSessionAsync(worker, hash);
        var release = await worker.Client.ReleaseRangeAsync(new ReleaseRangeRequest { RangeHash = hash });
        Assert.Equal(0ul, release.FreedBytes);
        Assert.Equal(0u, release.ClosedSessions);
        Assert.Contains((await worker.StatusAsync()).Ranges, r => r.Model.RangeHash == hash);

        release = await worker.Client.ReleaseRangeAsync(new ReleaseRangeRequest { RangeHash = hash });
        Assert.Equal((ulong)bytes, release.FreedBytes);
        Assert.Equal(1u, release.ClosedSessions);
        Assert.DoesNotContain((await worker.StatusAsync()).Ranges, r => r.Model.RangeHash == hash);
        Assert.False((await worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = session })).Closed);

        // Releasing what is not held is harmless.
        release = await worker.Client.ReleaseRangeAsync(new ReleaseRangeRequest { RangeHash = hash });
        Assert.Equal(0ul, release.FreedBytes);
    }
}
