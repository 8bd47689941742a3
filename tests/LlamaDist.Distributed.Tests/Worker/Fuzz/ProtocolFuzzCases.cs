using Google.Protobuf;
using Grpc.Core;
using LlamaDist.Core.Gguf;
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
internal sealed class ProtocolFuzzCases
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
        _ => WorkerCalls.TokenStep(Guid.NewGuid().ToString("N"), 1, 0, WorkerCalls.Prompt),
    };

    // ---- valid messages, hostile values --------------------------------------------------------------------

    private string HostileHash() => random.Next(3) switch
    {
        0 => random.UnknownHash(),
        _ => random.HostileString(),
    };

    private HandshakeRequest HostileHandshake() => new()
    {
        Protocol = random.OneIn(4) ? null : new ProtocolVersion { Major = random.HostileUInt32(), Minor = random.HostileUInt32() },
        AuthToken = random.OneIn(2) ? "" : random.HostileString(),
        ClientName = random.HostileString(),
    };

    private LoadRangeRequest HostileLoadRange()
    {
        var request = models.LoadRequest(models.F32Path, random.Pick(loaded).Range);
        request.WorkerPath = random.Next(4) switch
        {
            0 => "",
            1 => models.F32Path,  // a real model whose layers hash differently from the hostile hash below
            2 => Path.Combine(Path.GetTempPath(), $"llamadist-fuzz-missing-{random.NextUInt64():x}.gguf"),
            _ => random.HostileString(),
        };
        request.Model.RangeHash = HostileHash();
        if (random.OneIn(3))
        {
            request.Model.FileName = random.HostileString();
        }
        if (random.OneIn(3))
        {
            request.Layers = random.OneIn(4) ? null : new LayerSpan
            {
                Start = random.HostileUInt32(), EndExclusive = random.HostileUInt32(), ModelLayerCount = random.HostileUInt32(),
                OutputElsewhere = random.OneIn(2),
            };
        }
        if (random.OneIn(3))
        {
            request.Config = random.OneIn(4) ? null : HostileConfig(request.Config);
        }
        if (random.OneIn(2))
        {
            request.Stream = new WeightStreamSource { TotalBytes = random.HostileUInt64(), TensorCount = random.HostileUInt32() };
        }
        return request;
    }

    private ModelConfig HostileConfig(ModelConfig valid)
    {
        var config = valid.Clone();
        switch (random.Next(8))
        {
            case 0: config.EmbeddingLength = random.HostileUInt32(); break;
            case 1: config.LayerCount = random.HostileUInt32(); break;
            case 2: config.HeadCount = random.HostileUInt32(); break;
            case 3: config.KvHeadCount = random.HostileUInt32(); break;
            case 4: config.VocabularySize = random.HostileUInt32(); break;
            case 5: config.FeedForwardLength = random.HostileUInt32(); break;
            case 6: config.Architecture = random.HostileString(); break;
            default: config.RmsEpsilon = random.OneIn(2) ? float.NaN : -1f; break;
        }
        return config;
    }

    private async Task StreamWeightsAsync()
    {
        // Most streams fill a range a LoadRange is really waiting for, so the chunks get past the first check.
        string hash = random.UnknownHash();
        if (!random.OneIn(4))
        {
            var announce = models.LoadRequest(models.F32Path, random.Pick(loaded).Range);
            announce.WorkerPath = "";
            announce.Model.RangeHash = hash;
            announce.Stream = new WeightStreamSource
            {
                TotalBytes = random.OneIn(2) ? (ulong)random.Next(1 << 20) : random.HostileUInt64(),
                TensorCount = (uint)(1 + random.Next(20)),
            };
            using var load = worker.Client.LoadRangeAsync(announce, Options());
            await load.ResponseAsync.ConfigureAwait(false);
        }

        using var call = worker.Client.StreamWeights(Options());
        var chunks = new List<WeightChunk>();
        for (int count = random.Next(5); count > 0; count--)
        {
            chunks.Add(HostileChunk(hash));
        }
        await WriteAllAsync(call.RequestStream, chunks).ConfigureAwait(false);
        await call.ResponseAsync.ConfigureAwait(false);
    }

    private WeightChunk HostileChunk(string hash)
    {
        var chunk = new WeightChunk
        {
            RangeHash = random.OneIn(6) ? HostileHash() : hash,
            TensorName = random.OneIn(5) ? random.HostileString() : random.Pick(TensorNames),
            Offset = random.OneIn(2) ? 0 : random.HostileUInt64(),
            Data = ByteString.CopyFrom(random.Bytes(512)),
        };
        if (!random.OneIn(3))
        {
            var descriptor = new TensorDescriptor { GgmlType = random.OneIn(3) ? random.HostileUInt32() : (uint)random.Pick(new[] { 0, 1, 8, 2, 12 }) };
            for (int d = random.Next(6); d > 0; d--)
            {
                descriptor.Dimensions.Add(random.OneIn(2) ? random.HostileUInt64() : (ulong)(1 + random.Next(128)));
            }
            descriptor.ByteSize = random.OneIn(2) ? (ulong)chunk.Data.Length : random.HostileUInt64();
            chunk.Tensor = descriptor;
        }
        return chunk;
    }

    private async Task OpenSessionAsync()
    {
        var request = new OpenSessionRequest
        {
            SessionId = random.OneIn(3) ? random.HostileString() : Guid.NewGuid().ToString("N"),
            RangeHash = random.OneIn(2) ? random.Pick(loaded).Hash : HostileHash(),
            ContextSize = random.OneIn(2) ? (uint)(1 + random.Next(256)) : random.HostileUInt32(),
            MaxBatchTokens = random.OneIn(2) ? (uint)(1 + random.Next(64)) : random.HostileUInt32(),
            NextEndpoint = random.Next(4) switch
            {
                0 => random.HostileString(),
                1 => $"worker-b:{random.Next(70000)}",
                _ => "",
            },
        };
        using (var open = worker.Client.OpenSessionAsync(request, Options()))
        {
            await open.ResponseAsync.ConfigureAwait(false);
        }
        // Opened: close it again, so the cases do not pile up sessions (idle ones would be collected anyway).
        using var close = worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = request.SessionId }, Options());
        await close.ResponseAsync.ConfigureAwait(false);
    }

    /// <summary>
    /// A real session (on one of the loaded ranges, sometimes continuing to a next stage), then a few steps: valid
    /// ones that advance it, and hostile ones — out of order, wrong counts, wrong input kind, foreign session, odd
    /// encodings. The stream is completed, or abandoned mid-way (cancelled) as a caller that went away does.
    /// </summary>
    private async Task ForwardAsync()
    {
        var (range, hash) = random.Pick(loaded);
        string session = Guid.NewGuid().ToString("N");
        bool opened = !random.OneIn(5);
        if (opened)
        {
            using var open = worker.Client.OpenSessionAsync(new OpenSessionRequest
            {
                SessionId = session, RangeHash = hash, ContextSize = 64, MaxBatchTokens = 16,
                NextEndpoint = random.OneIn(4) ? "worker-b:50052" : "",
            }, Options());
            await open.ResponseAsync.ConfigureAwait(false);
        }

        bool abandon = random.OneIn(8);
        using var cancel = new CancellationTokenSource();
        using var call = worker.Client.Forward(new CallOptions(deadline: DateTime.UtcNow + deadline, cancellationToken: cancel.Token));
        var reading = ReadAllAsync(call.ResponseStream);
        int position = 0;
        try
        {
            for (int step = 1 + random.Next(5); step > 0; step--)
            {
                var request = Step(range, session, position, out int advanced);
                await call.RequestStream.WriteAsync(request).ConfigureAwait(false);
                position += advanced;
            }
            if (abandon)
            {
                cancel.Cancel();
            }
            else
            {
                await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            }
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException or OperationCanceledException)
        {
            // The worker already ended the call (or this side cancelled it): the status below says how.
        }
        await reading.ConfigureAwait(false);
    }

    private static async Task ReadAllAsync(IAsyncStreamReader<ForwardReply> replies)
    {
        while (await replies.MoveNext(CancellationToken.None).ConfigureAwait(false))
        {
        }
    }

    private ForwardRequest Step(LayerRange range, string session, int position, out int advanced)
    {
        int count = 1 + random.Next(4);
        bool first = range.Start == 0;
        var request = first
            ? WorkerCalls.TokenStep(session, (ulong)position + 1, position, Enumerable.Range(0, count).Select(_ => random.Next(models.Config.VocabularySize)).ToArray())
            : new ForwardRequest
            {
                SessionId = session, Sequence = (ulong)position + 1, StartPosition = (uint)position, TokenCount = (uint)count,
                Hidden = new HiddenState
                {
                    Encoding = ActivationEncoding.F32, EmbeddingLength = (uint)models.Config.EmbeddingLength,
                    Data = ByteString.CopyFrom(new byte[count * models.Config.EmbeddingLength * sizeof(float)]),
                },
            };
        request.WantGreedyToken = random.OneIn(2);
        request.WantLogits = random.OneIn(3);
        request.LogitsForAllTokens = random.OneIn(3);
        advanced = count;
        switch (random.Next(12))
        {
            case 0: request.StartPosition = random.HostileUInt32(); advanced = 0; break;
            case 1: request.TokenCount = random.HostileUInt32(); advanced = 0; break;
            case 2 when first: request.Tokens.Ids.Add(random.OneIn(2) ? -1 : int.MaxValue); advanced = 0; break;
            case 3 when first: request.Tokens.Ids[0] = (int)random.NextUInt64(); advanced = 0; break;
            case 4:
                // The other kind of input: hidden state for a first range, token ids for a later one.
                if (first)
                {
                    request.Hidden = new HiddenState { Encoding = ActivationEncoding.F16, EmbeddingLength = random.HostileUInt32(), Data = ByteString.CopyFrom(random.Bytes(64)) };
                }
                else
                {
                    request.Tokens = new TokenIds { Ids = { 1, 2 } };
                }
                advanced = 0;
                break;
            case 5 when !first:
                request.Hidden.Encoding = (ActivationEncoding)random.HostileUInt32();
                request.Hidden.Data = ByteString.CopyFrom(random.Bytes(count * models.Config.EmbeddingLength * 4));
                advanced = 0;
                break;
            case 6: request.SessionId = random.OneIn(2) ? Guid.NewGuid().ToString("N") : random.HostileString(); advanced = 0; break;
            case 7: request.AttachResultStream = true; advanced = 0; break;
            case 8: request.ReplyEncoding = (ActivationEncoding)random.Next(5); break;
            case 9: request.ClearInput(); advanced = 0; break;
            default: break;
        }
        return request;
    }

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
