using Google.Protobuf;
using Grpc.Core;
using LlamaDist.Core.Model;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Tests.Worker.Fuzz;

/// <summary>The Forward cases: real sessions, then steps valid and hostile, streams completed or abandoned.</summary>
internal sealed partial class ProtocolFuzzCases
{
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
        try
        {
            await reading.ConfigureAwait(false);
        }
        finally
        {
            if (opened)
            {
                // Closed again, as OpenSessionAsync's are: left open, the cases filled the worker's 64 sessions, and
                // whether the check after the cases found a free one depended on how many idle ones had expired.
                await CloseQuietlyAsync(session).ConfigureAwait(false);
            }
        }
    }

    private async Task CloseQuietlyAsync(string session)
    {
        try
        {
            using var close = worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = session }, Options());
            await close.ResponseAsync.ConfigureAwait(false);
        }
        catch (RpcException)
        {
            // Already gone (closed by the worker after a broken step): nothing to release.
        }
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
}
