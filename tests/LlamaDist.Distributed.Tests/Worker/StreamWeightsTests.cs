using Grpc.Core;
using LlamaDist.Core.Gguf;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Weights;
using static LlamaDist.Distributed.Tests.Worker.WorkerCalls;

namespace LlamaDist.Distributed.Tests.Worker;

[Collection(WorkerCollection.Name)]
public sealed class StreamWeightsTests : IClassFixture<SharedWorker>
{
    private readonly WorkerModels models;
    private readonly InProcessWorker worker;

    public StreamWeightsTests(WorkerModels models, SharedWorker shared)
    {
        this.models = models;
        worker = shared.Worker;
    }

    [Fact]
    public async Task CorrectStream_IsLoadedAndCachedUnderItsHash()
    {
        await using var fresh = await InProcessWorker.StartAsync();
        using var client = await fresh.ConnectAsync();
        var request = models.StreamRequest(models.F32Path, models.SecondHalf);
        var hash = request.Model.RangeHash;

        // A tampered attempt first: it must leave nothing that stops a correct retry.
        Assert.Equal(RangeLoadState.NeedsWeights, (await client.LoadRangeAsync(request, CancellationToken.None)).State);
        var tampered = models.Chunks(models.F32Path, models.SecondHalf);
        tampered[^1].Data = Flip(tampered[^1].Data);
        await SendFailsAsync(fresh, tampered, StatusCode.DataLoss);

        Assert.Equal(RangeLoadState.NeedsWeights, (await client.LoadRangeAsync(request, CancellationToken.None)).State);
        StreamWeightsReply reply;
        using (var file = GgufFile.Open(models.F32Path))
        {
            var tensors = RangeTensors.Select(file, models.Config, models.SecondHalf);
            reply = await client.StreamWeightsAsync(file, tensors, hash, null, CancellationToken.None);
        }

        Assert.Equal(RangeLoadState.Loaded, reply.State);
        Assert.Equal(hash, reply.RangeHash);
        Assert.Equal(request.Stream.TotalBytes, reply.BytesReceived);
        var cached = Path.Combine(fresh.CacheDirectory, hash + ".gguf");
        Assert.Equal([cached], Directory.GetFiles(fresh.CacheDirectory));
        Assert.Equal(hash, models.HashOfCachedFile(cached, models.SecondHalf));
        var listed = Assert.Single((await fresh.StatusAsync()).Ranges);
        Assert.Equal((hash, RangeLoadState.Loaded, request.Stream.TotalBytes), (listed.Model.RangeHash, listed.State, listed.WeightBytes));

        // Released and asked for again with no copy and no stream: the cache serves it.
        await client.ReleaseRangeAsync(hash, CancellationToken.None);
        Assert.Empty((await fresh.StatusAsync()).Ranges);
        request.Stream = null;
        var again = await client.LoadRangeAsync(request, CancellationToken.None);
        Assert.Equal(RangeLoadState.Loaded, again.State);
        Assert.Equal("loaded from cache", again.Message);
    }

    public static TheoryData<string> MalformedStreams =>
    [
        "chunk out of order", "chunk missing", "wrong announced byte size", "tensor not of the range", "more bytes than announced",
        "more tensors than announced", "stream ends early", "unknown ggml type", "chunk of another range", "continuation without a tensor",
    ];

    [Theory]
    [MemberData(nameof(MalformedStreams))]
    public async Task MalformedStream_IsInvalidArgumentAndCachesNothing(string problem)
    {
        var request = models.StreamRequest(models.F32Path, models.SecondHalf);
        var chunks = models.Chunks(models.F32Path, models.SecondHalf);
        int last = chunks.Count - 1;  // output.weight is last and spans many chunks
        Assert.True(chunks[last].Offset > 0 && chunks[last - 1].Offset > 0);
        switch (problem)
        {
            case "chunk out of order": (chunks[last - 1], chunks[last - 2]) = (chunks[last - 2], chunks[last - 1]); break;
            case "chunk missing": chunks.RemoveAt(last - 1); break;
            case "wrong announced byte size": chunks[0].Tensor.ByteSize += 4; break;
            case "tensor not of the range": chunks.InsertRange(0, models.Chunks(models.F32Path, models.FirstHalf).Where(c => c.TensorName.StartsWith("blk.0.", StringComparison.Ordinal)).Take(1)); chunks[0].RangeHash = request.Model.RangeHash; break;
            case "more bytes than announced": request.Stream.TotalBytes -= 1; break;
            case "more tensors than announced": request.Stream.TensorCount -= 1; break;
            case "stream ends early": chunks.RemoveAt(last); break;
            case "unknown ggml type": chunks[0].Tensor.GgmlType = 999; break;
            case "chunk of another range": chunks[last].RangeHash = models.Hash(models.F32Path, models.FirstHalf); break;
            case "continuation without a tensor": chunks[0].Tensor = null; break;
        }
        Assert.Equal(RangeLoadState.NeedsWeights, (await worker.Client.LoadRangeAsync(request)).State);

        var error = await SendFailsAsync(worker, chunks, StatusCode.InvalidArgument);
        Assert.Equal(nameof(WorkerFailure.Rejected), error.Failure());
        await AssertNothingHeldAsync(request.Model.RangeHash);
    }

    [Theory]
    [InlineData("data")]
    [InlineData("shape")]
    public async Task TamperedStream_IsDataLossModelMismatchAndCachesNothing(string what)
    {
        var request = models.StreamRequest(models.F32Path, models.SecondHalf);
        Assert.Equal(RangeLoadState.NeedsWeights, (await worker.Client.LoadRangeAsync(request)).State);
        var chunks = models.Chunks(models.F32Path, models.SecondHalf);
        var output = chunks.First(c => c.TensorName == "output.weight");
        if (what == "data")
        {
            chunks[chunks.Count / 2].Data = Flip(chunks[chunks.Count / 2].Data);
        }
        else
        {
            // [64, vocab] announced as [vocab, 64]: the same byte count, but not the tensor the hash names.
            var dimensions = output.Tensor.Dimensions.Reverse().ToArray();
            output.Tensor.Dimensions.Clear();
            output.Tensor.Dimensions.AddRange(dimensions);
        }

        var error = await SendFailsAsync(worker, chunks, StatusCode.DataLoss);
        Assert.Equal(nameof(WorkerFailure.ModelMismatch), error.Failure());
        await AssertNothingHeldAsync(request.Model.RangeHash);
    }

    [Fact]
    public async Task StreamWithoutLoadRange_IsNotFound()
    {
        var chunks = models.Chunks(models.F32Path, models.FirstHalf);
        var error = await SendFailsAsync(worker, chunks, StatusCode.NotFound);
        Assert.Contains("LoadRange first", error.Status.Detail);
        await AssertNothingHeldAsync(chunks[0].RangeHash);
    }

    [Fact]
    public async Task EmptyStream_IsInvalidArgument()
    {
        await SendFailsAsync(worker, [], StatusCode.InvalidArgument);
    }

    private async Task AssertNothingHeldAsync(string hash)
    {
        var left = Directory.Exists(worker.CacheDirectory) ? Directory.GetFiles(worker.CacheDirectory) : [];
        Assert.Empty(left);  // no <hash>.gguf, and no scratch .part or .tmp file either
        Assert.DoesNotContain((await worker.StatusAsync()).Ranges, r => r.Model.RangeHash == hash);
    }

    private static Google.Protobuf.ByteString Flip(Google.Protobuf.ByteString data)
    {
        var bytes = data.ToByteArray();
        bytes[bytes.Length / 2] ^= 0x40;
        return Google.Protobuf.ByteString.CopyFrom(bytes);
    }
}
