using Google.Protobuf;
using Grpc.Core;
using LlamaDist.Core.Model;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Tests.Worker.Fuzz;

/// <summary>What one fuzz case sent and what status the worker answered (OK when the call succeeded).</summary>
internal sealed record FuzzOutcome(int Case, string Kind, StatusCode Status, string Detail);

/// <summary>
/// Builds and sends one hostile case per call against a live worker, every RPC in turn chosen at random:
/// random bytes and mutated valid messages as protobuf (through a raw byte marshaller), and valid messages with
/// hostile values — huge, zero and negative counts, long and odd strings, unknown hashes, Forward steps out of
/// order or for the wrong session, streams ended early, weight chunks for unknown ranges or with impossible shapes.
/// Every call has a deadline; the caller treats DeadlineExceeded as a hang.
/// </summary>
internal sealed partial class ProtocolFuzzCases
{
    private const string ServiceName = "llamadist.v1.LlamaWorker";
    private static readonly Marshaller<byte[]> RawBytes = Marshallers.Create(bytes => bytes, bytes => bytes);
    private static readonly string[] TensorNames =
    [
        "token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.1.ffn_down.weight", "output_norm.weight",
        "output.weight", "blk.99.attn_k.weight",
    ];

    private readonly InProcessWorker worker;
    private readonly WorkerModels models;
    private readonly FuzzRandom random;
    private readonly TimeSpan deadline;
    private readonly CallInvoker invoker;
    private readonly (LayerRange Range, string Hash)[] loaded;

    public ProtocolFuzzCases(InProcessWorker worker, WorkerModels models, ulong seed, TimeSpan deadline)
    {
        this.worker = worker;
        this.models = models;
        this.deadline = deadline;
        random = new FuzzRandom(seed);
        invoker = worker.Channel.CreateCallInvoker();
        loaded = [Hashed(models.Whole), Hashed(models.FirstHalf), Hashed(models.SecondHalf)];
    }

    /// <summary>The ranges the cases open sessions on; loaded before the first case.</summary>
    public async Task LoadRangesAsync()
    {
        foreach (var (range, _) in loaded)
        {
            await worker.Client.LoadRangeAsync(models.LoadRequest(models.F32Path, range));
        }
    }

    public async Task<FuzzOutcome> RunAsync(int index)
    {
        var (kind, call) = random.Next(9) switch
        {
            0 or 1 => ("raw bytes", RawCallAsync()),
            2 => ("Handshake", UnaryAsync(() => worker.Client.HandshakeAsync(HostileHandshake(), Options()))),
            3 => ("LoadRange", UnaryAsync(() => worker.Client.LoadRangeAsync(HostileLoadRange(), Options()))),
            4 => ("StreamWeights", StreamWeightsAsync()),
            5 => ("ReleaseRange", UnaryAsync(() => worker.Client.ReleaseRangeAsync(new ReleaseRangeRequest { RangeHash = HostileHash() }, Options()))),
            6 => ("OpenSession", OpenSessionAsync()),
            7 => ("CloseSession", UnaryAsync(() => worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = random.HostileString() }, Options()))),
            _ => ("Forward", ForwardAsync()),
        };
        try
        {
            await call.ConfigureAwait(false);
            return new FuzzOutcome(index, kind, StatusCode.OK, "");
        }
        catch (RpcException exception)
        {
            return new FuzzOutcome(index, kind, exception.StatusCode, exception.Status.Detail);
        }
        catch (OperationCanceledException)
        {
            // The case abandoned its own call (the channel reports that as cancellation, not as a status).
            return new FuzzOutcome(index, kind, StatusCode.Cancelled, "");
        }
    }

    private CallOptions Options() => new(deadline: DateTime.UtcNow + deadline);

    private (LayerRange, string) Hashed(LayerRange range) => (range, models.Hash(models.F32Path, range));

    private static async Task UnaryAsync<T>(Func<AsyncUnaryCall<T>> call)
    {
        using var pending = call();
        await pending.ResponseAsync.ConfigureAwait(false);
    }

    // ---- random bytes as protobuf --------------------------------------------------------------------------

    private async Task RawCallAsync()
    {
        var method = random.Pick<Google.Protobuf.Reflection.MethodDescriptor>(LlamaWorker.Descriptor.Methods.ToList());
        var type = method.IsClientStreaming
            ? method.IsServerStreaming ? MethodType.DuplexStreaming : MethodType.ClientStreaming
            : MethodType.Unary;
        var raw = new Method<byte[], byte[]>(type, ServiceName, method.Name, RawBytes, RawBytes);
        switch (type)
        {
            case MethodType.Unary:
                using (var call = invoker.AsyncUnaryCall(raw, null, Options(), Payload(method.Name)))
                {
                    await call.ResponseAsync.ConfigureAwait(false);
                }
                break;
            case MethodType.ClientStreaming:
                using (var call = invoker.AsyncClientStreamingCall(raw, null, Options()))
                {
                    await WriteAllAsync(call.RequestStream, Enumerable.Range(0, 1 + random.Next(3)).Select(_ => Payload(method.Name)).ToList());
                    await call.ResponseAsync.ConfigureAwait(false);
                }
                break;
            default:
                using (var call = invoker.AsyncDuplexStreamingCall(raw, null, Options()))
                {
                    await WriteAllAsync(call.RequestStream, Enumerable.Range(0, 1 + random.Next(3)).Select(_ => Payload(method.Name)).ToList());
                    while (await call.ResponseStream.MoveNext(CancellationToken.None).ConfigureAwait(false))
                    {
                    }
                }
                break;
        }
    }

    /// <summary>Random bytes, or a valid request of the method mutated (bit flips, a cut, an appended tail).</summary>
    private byte[] Payload(string methodName)
    {
        if (random.OneIn(3))
        {
            return random.Bytes(256);
        }
        byte[] bytes = ValidRequest(methodName).ToByteArray();
        if (bytes.Length == 0)
        {
            return random.Bytes(32);
        }
        switch (random.Next(3))
        {
            case 0:
                for (int flips = 1 + random.Next(4); flips > 0; flips--)
                {
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                }
                return bytes;
            case 1:
                return bytes[..random.Next(bytes.Length)];
            default:
                return [.. bytes, .. random.Bytes(16)];
        }
    }

    private IMessage ValidRequest(string methodName) => methodName switch
    {
        "Handshake" => new HandshakeRequest { Protocol = WireProtocol.Current, ClientName = "fuzz" },
        "GetStatus" => new GetStatusRequest(),
        "LoadRange" => models.LoadRequest(models.F32Path, random.Pick(loaded).Range),
        "StreamWeights" => new WeightChunk
        {
            RangeHash = random.UnknownHash(), TensorName = random.Pick(TensorNames), Data = ByteString.CopyFrom(random.Bytes(64)),
            Tensor = new TensorDescriptor { GgmlType = 0, Dimensions = { 16ul }, ByteSize = 64 },
        },
        "ReleaseRange" => new ReleaseRangeRequest { RangeHash = random.UnknownHash() },
        "OpenSession" => new OpenSessionRequest { SessionId = Guid.NewGuid().ToString("N"), RangeHash = random.Pick(loaded).Hash, ContextSize = 64, MaxBatchTokens = 16 },
        "CloseSession" => new CloseSessionRequest { SessionId = Guid.NewGuid().ToString("N") },
        "EchoLink" => new LinkEcho { Sequence = (ulong)random.Next(int.MaxValue) },
        _ => WorkerCalls.TokenStep(Guid.NewGuid().ToString("N"), 1, 0, WorkerCalls.Prompt),
    };

    private static async Task WriteAllAsync<T>(IClientStreamWriter<T> stream, IReadOnlyList<T> messages)
    {
        try
        {
            foreach (var message in messages)
            {
                await stream.WriteAsync(message).ConfigureAwait(false);
            }
            await stream.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException)
        {
            // The worker ended the call before reading everything; its status arrives on the response.
        }
    }
}
