using Google.Protobuf;
using Grpc.Core;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Worker.Hosting;
using LlamaDist.Worker.State;
using static LlamaDist.Distributed.Tests.Worker.WorkerCalls;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>
/// What a caller can make a worker touch on disk: files only inside its model roots and cache (a named path that
/// cannot be used answers like a missing one, quoting nothing), weight streams only as large as the range can be,
/// a bounded cache that evicts the least recently used ranges, pending loads that expire and are few, scratch
/// files of killed streams removed at start-up. After each refusal the worker still serves a valid range.
/// </summary>
[Collection(WorkerCollection.Name)]
[Trait("Category", "Slow")]  // left out of build.ps1 -Task Test -Fast
public sealed class FileAccessTests : IDisposable
{
    private readonly WorkerModels models;
    private readonly string directory = Directory.CreateTempSubdirectory("llamadist-files-").FullName;

    public FileAccessTests(WorkerModels models) => this.models = models;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private async Task StillServesAsync(InProcessWorker worker)
    {
        var request = models.StreamRequest(models.F32Path, models.SecondHalf);
        var reply = await worker.Client.LoadRangeAsync(request);
        Assert.Equal(RangeLoadState.NeedsWeights, reply.State);
        using var call = worker.Client.StreamWeights();
        foreach (var chunk in models.Chunks(models.F32Path, models.SecondHalf))
        {
            await call.RequestStream.WriteAsync(chunk);
        }
        await call.RequestStream.CompleteAsync();
        Assert.Equal(RangeLoadState.Loaded, (await call.ResponseAsync).State);
        await worker.Client.ReleaseRangeAsync(new ReleaseRangeRequest { RangeHash = request.Model.RangeHash });
    }

    [Fact]
    public async Task A_file_that_is_not_a_model_answers_exactly_like_a_missing_one_and_quotes_nothing()
    {
        await using var worker = await InProcessWorker.StartAsync("probe");
        var secret = Path.Combine(directory, "shadow");
        File.WriteAllText(secret, "root:$6$secret-hash:19000:0:99999:7:::\n");
        var empty = Path.Combine(directory, "environ");
        File.WriteAllBytes(empty, []);
        var answers = new List<RpcException>();
        foreach (var path in new[] { secret, empty, directory, Path.Combine(directory, "missing.gguf"), "relative/../../etc/shadow" })
        {
            var request = models.LoadRequest(models.F32Path, models.FirstHalf);
            request.WorkerPath = path;
            answers.Add(await FailsAsync(() => worker.Client.LoadRangeAsync(request).ResponseAsync, StatusCode.FailedPrecondition));
        }
        Assert.All(answers, answer => Assert.Equal(answers[^2].Status.Detail, answer.Status.Detail));
        Assert.All(answers, answer => Assert.DoesNotContain("root", answer.Status.Detail, StringComparison.Ordinal));
        Assert.All(answers, answer => Assert.DoesNotContain("magic", answer.Status.Detail, StringComparison.OrdinalIgnoreCase));
        Assert.All(answers, answer => Assert.DoesNotContain("empty", answer.Status.Detail, StringComparison.OrdinalIgnoreCase));
        await StillServesAsync(worker);
    }

    [Fact]
    public async Task A_worker_off_loopback_or_with_a_model_path_never_opens_the_callers_path()
    {
        var roots = Directory.CreateDirectory(Path.Combine(directory, "models")).FullName;
        await using var withRoot = await InProcessWorker.StartAsync("rooted", new WorkerOptions { ModelPath = roots });
        await using var network = await InProcessWorker.StartAsync("network", new WorkerOptions { Address = "0.0.0.0", Token = "network-worker-token-0123456789" });
        foreach (var worker in new[] { withRoot, network })
        {
            // A valid model at the caller's path: still not opened, the range must come another way.
            var request = models.StreamRequest(models.F32Path, models.FirstHalf);
            request.WorkerPath = models.F32Path;
            Assert.Equal(RangeLoadState.NeedsWeights, (await worker.Client.LoadRangeAsync(request)).State);
            await worker.Client.ReleaseRangeAsync(new ReleaseRangeRequest { RangeHash = request.Model.RangeHash });
        }
        // Names in the model directory are plain file names: "..", separators and the like find nothing.
        foreach (var name in new[] { "..", "../" + Path.GetFileName(models.F32Path), "." })
        {
            var request = models.StreamRequest(models.F32Path, models.FirstHalf);
            request.Model.FileName = name;
            Assert.Equal(RangeLoadState.NeedsWeights, (await withRoot.Client.LoadRangeAsync(request)).State);
            await withRoot.Client.ReleaseRangeAsync(new ReleaseRangeRequest { RangeHash = request.Model.RangeHash });
        }
        Assert.False(ModelFileLocator.IsPlainFileName("a/b"));
        Assert.False(ModelFileLocator.IsPlainFileName(".."));
        Assert.True(ModelFileLocator.IsPlainFileName("model.gguf"));
    }

    [Fact]
    public async Task A_stream_larger_than_the_range_can_be_is_refused_before_a_byte_is_written()
    {
        await using var worker = await InProcessWorker.StartAsync("big-stream");
        foreach (var (bytes, tensors) in new[] { (1UL << 40, 10u), (0UL, 10u), (1000UL, 0u), (1000UL, 100_000u) })
        {
            var request = models.StreamRequest(models.F32Path, models.SecondHalf);
            request.Stream = new WeightStreamSource { TotalBytes = bytes, TensorCount = tensors };
            var error = await FailsAsync(() => worker.Client.LoadRangeAsync(request).ResponseAsync, StatusCode.InvalidArgument);
            Assert.Contains("stream", error.Status.Detail, StringComparison.Ordinal);
        }
        Assert.Empty((await worker.StatusAsync()).Ranges);
        Assert.False(Directory.Exists(worker.CacheDirectory) && Directory.EnumerateFiles(worker.CacheDirectory).Any());
        await StillServesAsync(worker);
    }

    [Fact]
    public async Task A_stream_past_its_announced_size_is_refused_and_leaves_no_scratch_file()
    {
        await using var worker = await InProcessWorker.StartAsync("overflow");
        var request = models.StreamRequest(models.F32Path, models.SecondHalf);
        request.Stream.TotalBytes -= 4;  // one value short of what the tensors hold
        Assert.Equal(RangeLoadState.NeedsWeights, (await worker.Client.LoadRangeAsync(request)).State);
        var error = await SendFailsAsync(worker, models.Chunks(models.F32Path, models.SecondHalf), StatusCode.InvalidArgument);
        Assert.Contains("announced", error.Status.Detail, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFiles(worker.CacheDirectory, "*.part"));
        await StillServesAsync(worker);
    }

    [Fact]
    public async Task Scratch_files_of_a_killed_stream_are_removed_at_start_up()
    {
        var cache = Directory.CreateDirectory(Path.Combine(directory, "cache")).FullName;
        File.WriteAllBytes(Path.Combine(cache, $"{new string('a', 64)}.0123.part"), new byte[4096]);
        File.WriteAllBytes(Path.Combine(cache, $"{new string('b', 64)}.gguf.tmp"), new byte[4096]);
        File.WriteAllBytes(Path.Combine(cache, $"{new string('c', 64)}.gguf"), new byte[16]);
        var cacheOfRuntime = new RangeCache(cache, 1 << 20);
        Assert.Equal([$"{new string('c', 64)}.gguf"], Directory.EnumerateFiles(cache).Select(Path.GetFileName));
        Assert.Equal(16, cacheOfRuntime.Size);
        await Task.CompletedTask;
    }

    [Fact]
    public void The_cache_evicts_least_recently_used_ranges_not_in_use_and_refuses_what_cannot_fit()
    {
        var cache = Directory.CreateDirectory(Path.Combine(directory, "lru")).FullName;
        string Name(char c) => new(c, 64);
        var now = DateTime.UtcNow;
        foreach (var (c, age) in new[] { ('a', 30), ('b', 20), ('c', 10) })
        {
            var path = Path.Combine(cache, Name(c) + ".gguf");
            File.WriteAllBytes(path, new byte[1000]);
            File.SetLastWriteTimeUtc(path, now.AddMinutes(-age));
        }
        var ranges = new RangeCache(cache, 3500);
        ranges.Touch(Path.Combine(cache, Name('a') + ".gguf"));  // used just now: evicted last

        // 3000 held + 1500 wanted > 3500: the least recently used one not in use ('c' is, 'b' is next) goes.
        var evicted = ranges.Reserve(1500, new HashSet<string> { Name('c') });
        Assert.Equal([Name('b')], evicted);
        Assert.Equal(2000, ranges.Size);

        var tooBig = Assert.Throws<RpcException>(() => ranges.Reserve(4000, new HashSet<string>()));
        Assert.Equal(StatusCode.ResourceExhausted, tooBig.StatusCode);
        var pinned = Assert.Throws<RpcException>(() => ranges.Reserve(3000, new HashSet<string> { Name('a'), Name('c') }));
        Assert.Equal(StatusCode.ResourceExhausted, pinned.StatusCode);
        Assert.Equal(2000, ranges.Size);
    }

    [Fact]
    public async Task Pending_loads_expire_and_are_bounded_in_number()
    {
        await using var worker = await InProcessWorker.StartAsync("pending", new WorkerOptions
        {
            // Long enough that the first two are still pending when the third comes on a busy machine (300 ms was
            // not, once), short enough that the expiry below is seen within the wait.
            PendingLoadTimeout = TimeSpan.FromSeconds(2), MaxPendingLoads = 2,
        });
        LoadRangeRequest Pending(char c)
        {
            var request = models.StreamRequest(models.F32Path, models.SecondHalf);
            request.Model.RangeHash = new string(c, 64);
            return request;
        }
        await worker.Client.LoadRangeAsync(Pending('1'));
        await worker.Client.LoadRangeAsync(Pending('2'));
        var full = await FailsAsync(() => worker.Client.LoadRangeAsync(Pending('3')).ResponseAsync, StatusCode.ResourceExhausted);
        Assert.Contains("waiting for weights", full.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(2, (await worker.StatusAsync()).Ranges.Count);

        var status = await worker.WaitForStatusAsync(s => s.Ranges.Count == 0, TimeSpan.FromSeconds(15));
        Assert.Empty(status.Ranges);
        using var call = worker.Client.StreamWeights();
        await FailsAsync(async () =>
        {
            await call.RequestStream.WriteAsync(new WeightChunk { RangeHash = new string('1', 64), TensorName = "x", Data = ByteString.CopyFrom(new byte[4]) });
            await call.RequestStream.CompleteAsync();
            await call.ResponseAsync;
        }, StatusCode.NotFound);
        await worker.Client.LoadRangeAsync(Pending('3'));
    }

    [Fact]
    public async Task The_same_hash_for_other_layers_is_refused_instead_of_joining_the_loaded_range()
    {
        await using var worker = await InProcessWorker.StartAsync("conflict");
        var first = models.LoadRequest(models.F32Path, models.FirstHalf);
        Assert.Equal(RangeLoadState.Loaded, (await worker.Client.LoadRangeAsync(first)).State);
        var other = models.LoadRequest(models.F32Path, models.SecondHalf);
        other.Model.RangeHash = first.Model.RangeHash;
        var error = await FailsAsync(() => worker.Client.LoadRangeAsync(other).ResponseAsync, StatusCode.AlreadyExists);
        Assert.Equal(nameof(WorkerFailure.Rejected), error.Failure());
        // Still held once: one release frees it.
        Assert.True((await worker.Client.ReleaseRangeAsync(new ReleaseRangeRequest { RangeHash = first.Model.RangeHash })).FreedBytes > 0);
    }

    [Fact]
    public async Task A_huge_hash_is_not_echoed_back()
    {
        await using var worker = await InProcessWorker.StartAsync("echo");
        var request = models.LoadRequest(models.F32Path, models.FirstHalf);
        request.Model.RangeHash = new string('z', 1 << 20);
        var error = await FailsAsync(() => worker.Client.LoadRangeAsync(request).ResponseAsync, StatusCode.InvalidArgument);
        Assert.True(error.Status.Detail.Length < 300, $"{error.Status.Detail.Length} characters echoed");
        Assert.Contains("1,048,576 characters", error.Status.Detail, StringComparison.Ordinal);
        Assert.True(WorkerErrors.Create(StatusCode.InvalidArgument, WorkerFailure.Rejected, new string('m', 100_000)).Status.Detail.Length <= WorkerErrors.MaxMessageCharacters);
    }

    [Fact]
    public void A_bare_resource_exhausted_is_not_reported_as_the_worker_running_out_of_memory()
    {
        var limit = new RpcException(new Status(StatusCode.ResourceExhausted, "Received message exceeds the maximum configured message size."));
        Assert.Equal(WorkerFailure.Failed, WorkerCallException.FromRpc("w:1", limit).Failure);
        var memory = WorkerErrors.OutOfMemory("The range needs more memory.");
        Assert.Equal(WorkerFailure.OutOfMemory, WorkerCallException.FromRpc("w:1", memory).Failure);
    }

    [Fact]
    public void The_cache_size_option_is_parsed()
    {
        Assert.Equal(1L << 30, WorkerCommandLine.Parse(["--max-cache-size", "1073741824"], _ => null)!.MaxCacheBytes);
        Assert.Equal(WorkerOptions.DefaultMaxCacheBytes, WorkerCommandLine.Parse([], _ => null)!.MaxCacheBytes);
        Assert.Throws<FormatException>(() => WorkerCommandLine.Parse(["--max-cache-size", "-1"], _ => null));
    }
}
