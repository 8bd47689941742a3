using Google.Protobuf;
using Grpc.Core;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Worker.State;
using static LlamaDist.Distributed.Tests.Worker.WorkerCalls;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>
/// Bad input gets a precise, short answer: a huge field is refused without being echoed (the status and its
/// trailers stay small, so the client sees InvalidArgument rather than a broken HTTP/2 stream), bytes that are not
/// protobuf are InvalidArgument on every RPC, and tensor shapes whose size overflows are InvalidArgument — each
/// leaving the worker serving.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class HostileInputTests : IClassFixture<SharedWorker>
{
    private const int Mebibyte = 1 << 20;
    private static readonly string HugeText = new('a', Mebibyte);
    private readonly WorkerModels models;
    private readonly InProcessWorker worker;

    public HostileInputTests(WorkerModels models, SharedWorker shared)
    {
        this.models = models;
        worker = shared.Worker;
    }

    [Fact]
    public async Task A_one_mebibyte_range_hash_is_refused_without_echoing_it()
    {
        var load = models.LoadRequest(models.F32Path, models.Whole);
        load.Model.RangeHash = HugeText;
        AssertShort(await FailsAsync(() => worker.Client.LoadRangeAsync(load).ResponseAsync, StatusCode.InvalidArgument));
        AssertShort(await FailsAsync(() => worker.Client.ReleaseRangeAsync(new ReleaseRangeRequest { RangeHash = HugeText }).ResponseAsync,
            StatusCode.InvalidArgument));
        var open = new OpenSessionRequest { SessionId = "s", RangeHash = HugeText, ContextSize = 64, MaxBatchTokens = 16 };
        AssertShort(await FailsAsync(() => worker.Client.OpenSessionAsync(open).ResponseAsync, StatusCode.InvalidArgument));
        using var stream = worker.Client.StreamWeights();
        try
        {
            await stream.RequestStream.WriteAsync(new WeightChunk { RangeHash = HugeText, TensorName = "token_embd.weight" });
            await stream.RequestStream.CompleteAsync();
        }
        catch (RpcException)
        {
            // The worker refused the first chunk while the client was still writing; the status follows.
        }
        AssertShort(await FailsAsync(() => stream.ResponseAsync, StatusCode.InvalidArgument));
        await AssertServesAsync(worker, models);
    }

    [Fact]
    public async Task A_one_mebibyte_session_id_is_refused_without_echoing_it()
    {
        AssertShort(await FailsAsync(() => worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = HugeText }).ResponseAsync,
            StatusCode.InvalidArgument));
        using var call = worker.Client.Forward();
        AssertShort(await StepFailsAsync(call, TokenStep(HugeText, 1, 0, Prompt), StatusCode.InvalidArgument));
        await AssertServesAsync(worker, models);
    }

    [Fact]
    public async Task Bytes_that_are_not_protobuf_are_InvalidArgument_on_every_rpc()
    {
        // A varint that never ends: no message type parses it.
        byte[] garbage = [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        var marshaller = Marshallers.Create<byte[]>(bytes => bytes, bytes => bytes);
        var invoker = worker.Channel.CreateCallInvoker();
        foreach (var descriptor in LlamaWorker.Descriptor.Methods)
        {
            var type = descriptor.IsClientStreaming
                ? descriptor.IsServerStreaming ? MethodType.DuplexStreaming : MethodType.ClientStreaming
                : MethodType.Unary;
            var method = new Method<byte[], byte[]>(type, LlamaWorker.Descriptor.FullName, descriptor.Name, marshaller, marshaller);
            var error = await FailsAsync(async () =>
            {
                switch (type)
                {
                    case MethodType.Unary:
                        using (var call = invoker.AsyncUnaryCall(method, null, default, garbage))
                        {
                            await call.ResponseAsync;
                        }
                        break;
                    case MethodType.ClientStreaming:
                        using (var call = invoker.AsyncClientStreamingCall(method, null, default))
                        {
                            await call.RequestStream.WriteAsync(garbage);
                            await call.RequestStream.CompleteAsync();
                            await call.ResponseAsync;
                        }
                        break;
                    default:
                        using (var call = invoker.AsyncDuplexStreamingCall(method, null, default))
                        {
                            await call.RequestStream.WriteAsync(garbage);
                            await call.RequestStream.CompleteAsync();
                            while (await call.ResponseStream.MoveNext(CancellationToken.None))
                            {
                            }
                        }
                        break;
                }
            }, StatusCode.InvalidArgument);
            Assert.Contains("not a valid", error.Status.Detail);
            AssertShort(error);
        }
        await AssertServesAsync(worker, models);
    }

    [Theory]
    [InlineData(new ulong[] { int.MaxValue, int.MaxValue, int.MaxValue, int.MaxValue }, "more bytes than a file can hold")]
    [InlineData(new ulong[] { 1UL << 40 }, "cannot store")]
    [InlineData(new ulong[] { 31 }, "cannot have shape")]
    public async Task Tensor_shapes_that_overflow_or_do_not_fit_are_InvalidArgument(ulong[] dimensions, string expected)
    {
        // A range really waiting for weights, so the chunk gets as far as its shape.
        var announce = models.StreamRequest(models.F32Path, models.Whole);
        announce.Model.RangeHash = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        Assert.Equal(RangeLoadState.NeedsWeights, (await worker.Client.LoadRangeAsync(announce)).State);

        var descriptor = new TensorDescriptor { GgmlType = dimensions.Length == 1 && dimensions[0] == 31 ? 8u : 0u, ByteSize = 64 };
        descriptor.Dimensions.Add(dimensions);
        using var stream = worker.Client.StreamWeights();
        await stream.RequestStream.WriteAsync(new WeightChunk
        {
            RangeHash = announce.Model.RangeHash, TensorName = "token_embd.weight", Tensor = descriptor, Data = ByteString.CopyFrom(new byte[64]),
        });
        await stream.RequestStream.CompleteAsync();
        var error = await FailsAsync(() => stream.ResponseAsync, StatusCode.InvalidArgument);
        Assert.Contains(expected, error.Status.Detail);
        Assert.DoesNotContain("Overflow", error.Status.Detail);
        await AssertServesAsync(worker, models);
    }

    /// <summary>The message quotes at most a short prefix, says how long the input was, and the trailers stay small.</summary>
    private static void AssertShort(RpcException error)
    {
        Assert.True(error.Status.Detail.Length <= 300, $"{error.Status.Detail.Length} characters: {error.Status.Detail[..Math.Min(300, error.Status.Detail.Length)]}");
        Assert.DoesNotContain(new string('a', WorkerInput.EchoedCharacters + 1), error.Status.Detail);
        long trailerBytes = error.Trailers.Sum(entry => entry.Key.Length + (entry.IsBinary ? entry.ValueBytes.Length : entry.Value.Length));
        Assert.True(trailerBytes < 1024, $"trailers of {trailerBytes} bytes");
    }
}
