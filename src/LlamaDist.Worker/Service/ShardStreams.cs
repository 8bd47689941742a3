using Grpc.Core;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Tensor;
using LlamaDist.Worker.State;
using LlamaDist.Worker.State.Tensor;

namespace LlamaDist.Worker.Service;

/// <summary>
/// The two streams of a tensor-parallel session: ShardStep (the coordinator's steps in, this shard's logit
/// columns out, one reply per step in order) and ExchangePartials (one peer shard's partial sums in, handed to
/// the session's reduction). Steps run on a thread of their own because they block on the peers' partials.
/// </summary>
internal static class ShardStreams
{
    public static async Task RunStepsAsync(WorkerRuntime runtime, IAsyncStreamReader<ShardStepRequest> requests,
        IServerStreamWriter<ShardStepReply> replies, ServerCallContext context)
    {
        string? sessionId = null;
        try
        {
            while (await requests.MoveNext(context.CancellationToken).ConfigureAwait(false))
            {
                var request = requests.Current;
                sessionId ??= WorkerInput.SessionId(request.SessionId);
                if (request.SessionId != sessionId)
                {
                    throw WorkerErrors.Invalid("Every step of a ShardStep stream belongs to the session of its first step.");
                }
                runtime.CountReceived(request.CalculateSize());
                var reply = await Task.Factory.StartNew(() => runtime.Shards.Step(request), context.CancellationToken,
                    TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
                runtime.CountSent(reply.CalculateSize());
                await replies.WriteAsync(reply, context.CancellationToken).ConfigureAwait(false);
            }
        }
        catch (IOException)
        {
            // The coordinator reset the stream; its session is closed by CloseShardSession, its lease or idleness.
        }
    }

    public static async Task<ExchangePartialsReply> ReceivePartialsAsync(WorkerRuntime runtime, IAsyncStreamReader<PartialSum> requests,
        ServerCallContext context)
    {
        ulong received = 0;
        ShardSession? session = null;
        uint from = 0;
        try
        {
            while (await requests.MoveNext(context.CancellationToken).ConfigureAwait(false))
            {
                var partial = requests.Current;
                if (session is null)
                {
                    string id = WorkerInput.SessionId(partial.SessionId);
                    session = runtime.Shards.FindSession(id) ?? throw WorkerErrors.NotFound($"Session {WorkerInput.Quote(id)} is not open here.");
                    from = partial.FromShard;
                }
                else if (partial.SessionId != session.Id || partial.FromShard != from)
                {
                    throw WorkerErrors.Invalid("Every partial sum of an ExchangePartials stream comes from the shard and session of the first.");
                }
                int embd = session.Shard.Config.EmbeddingLength;
                if (partial.TokenCount == 0 || partial.TokenCount > (uint)session.Reduction.MaxTokens
                    || !Enum.IsDefined(partial.Encoding) || partial.Encoding == ReductionEncoding.Unspecified
                    || partial.Data.Length != PartialSumCodec.EncodedBytes(partial.Encoding, (int)partial.TokenCount * embd))
                {
                    throw WorkerErrors.Invalid(
                        $"A partial sum of {partial.TokenCount} tokens in {partial.Encoding} with {partial.Data.Length} bytes does not fit the session.");
                }
                runtime.CountReceived(partial.CalculateSize());
                if (!await session.Reduction.DeliverAsync(partial, context.CancellationToken).ConfigureAwait(false))
                {
                    break;
                }
                received++;
            }
        }
        catch (IOException)
        {
            // The peer reset the stream: its session ended.
        }
        finally
        {
            session?.Reduction.PeerEnded(from);
        }
        return new ExchangePartialsReply { Received = received };
    }
}
