using Grpc.Core;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Worker.State;

namespace LlamaDist.Worker.Service;

/// <summary>
/// The step stream of a tensor-parallel session: ShardStep (the coordinator's steps in, this shard's logit
/// columns out, one reply per step in order). Steps run on a thread of the stream's own (<see cref="StepThread"/>)
/// because they block on the peers' partials, which arrive over the session's peer links.
/// </summary>
internal static class ShardStreams
{
    public static async Task RunStepsAsync(WorkerRuntime runtime, IAsyncStreamReader<ShardStepRequest> requests,
        IServerStreamWriter<ShardStepReply> replies, ServerCallContext context)
    {
        string? sessionId = null;
        using var stepThread = new StepThread("LlamaDist shard step");
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
                context.CancellationToken.ThrowIfCancellationRequested();
                var reply = await stepThread.Run(() =>
                {
                    using var pin = runtime.Threads.PinCaller();
                    return runtime.Shards.Step(request);
                }).ConfigureAwait(false);
                runtime.CountSent(reply.CalculateSize());
                await replies.WriteAsync(reply, context.CancellationToken).ConfigureAwait(false);
            }
        }
        catch (IOException)
        {
            // The coordinator reset the stream; its session is closed by CloseShardSession, its lease or idleness.
        }
    }
}
