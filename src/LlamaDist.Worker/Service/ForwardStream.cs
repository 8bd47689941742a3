using Grpc.Core;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Worker.State;

namespace LlamaDist.Worker.Service;

/// <summary>
/// One Forward call. Either a step stream — the steps of one session from the previous stage (or the
/// coordinator), each evaluated and passed on: to the next stage, to the attached result stream, or back on this
/// stream — or, when its first message sets attach_result_stream, the coordinator's result stream for a session
/// whose last stage is this worker. A step stream's end closes its session: the caller went away.
/// </summary>
internal sealed class ForwardStream
{
    private readonly WorkerRuntime runtime;
    private readonly IAsyncStreamReader<ForwardRequest> requests;
    private readonly IServerStreamWriter<ForwardReply> replies;
    private readonly ServerCallContext context;

    public ForwardStream(WorkerRuntime runtime, IAsyncStreamReader<ForwardRequest> requests, IServerStreamWriter<ForwardReply> replies,
        ServerCallContext context)
    {
        this.runtime = runtime;
        this.requests = requests;
        this.replies = replies;
        this.context = context;
    }

    public async Task RunAsync()
    {
        HostedSession? session = null;
        CancellationTokenSource? watch = null;
        try
        {
            while (true)
            {
                bool more;
                try
                {
                    more = await requests.MoveNext(watch?.Token ?? context.CancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (session?.Downstream?.Failure is { } failure)
                {
                    throw failure;  // the next stage broke: end this stream with its status, back towards the coordinator
                }
                catch (IOException)
                {
                    return;  // the caller reset the stream: it went away, and the session goes with it (finally)
                }
                if (!more)
                {
                    return;
                }

                var request = requests.Current;
                if (request.AttachResultStream)
                {
                    if (session is not null)
                    {
                        throw WorkerErrors.Invalid("attach_result_stream must be the first message of its own Forward call.");
                    }
                    await AttachAsync(WorkerInput.SessionId(request.SessionId)).ConfigureAwait(false);
                    return;
                }

                runtime.CountReceived(request.CalculateSize());
                var current = runtime.GetSession(WorkerInput.SessionId(request.SessionId));
                if (session is null)
                {
                    session = current;
                    session.Streaming = true;
                }
                else if (!ReferenceEquals(session, current))
                {
                    throw WorkerErrors.Invalid($"This stream carries session {session.Id}; open another Forward call for {current.Id}.");
                }

                var output = await StepEvaluator.EvaluateAsync(runtime, session, request, context.CancellationToken).ConfigureAwait(false);
                if (session.Next is { } next)
                {
                    session.Downstream ??= new DownstreamLink(next, runtime.PeerClient(next));
                    watch ??= CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, session.Downstream.Broken);
                    // Counted when handed to the transport: the ring may finish (and the caller hang up) before
                    // this write's completion is observed here.
                    var onward = StepEvaluator.ToNextRequest(request, output);
                    runtime.CountSent(onward.CalculateSize());
                    await session.Downstream.SendAsync(onward, context.CancellationToken).ConfigureAwait(false);
                }
                else
                {
                    var reply = StepEvaluator.ToReply(request, output);
                    runtime.CountSent(reply.CalculateSize());
                    if (session.Sink is { } sink)
                    {
                        await sink.WriteAsync(reply, context.CancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        await replies.WriteAsync(reply, context.CancellationToken).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (RpcException exception)
        {
            // The coordinator listens on the result stream: tell it there, at once, rather than by the ring's end.
            session?.Sink?.Fail(exception);
            throw;
        }
        finally
        {
            watch?.Dispose();
            if (session is not null)
            {
                session.Streaming = false;
                runtime.CloseSession(session.Id);
            }
        }
    }

    private async Task AttachAsync(string sessionId)
    {
        var session = runtime.GetSession(sessionId);
        if (session.Next is not null)
        {
            throw WorkerErrors.Precondition($"Session {sessionId} continues to {session.Next}; only the last stage has a result stream.");
        }
        if (session.Sink is not null)
        {
            throw WorkerErrors.Precondition($"Session {sessionId} already has a result stream.");
        }
        var sink = new ResultSink(replies);
        session.Sink = sink;
        await replies.WriteAsync(new ForwardReply { SessionId = sessionId, Sequence = 0 }, context.CancellationToken).ConfigureAwait(false);

        // Stay open until the session ends; the coordinator ending this call also ends the session.
        using var stopReading = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        var callerGone = DrainAsync(stopReading.Token);
        var finished = await Task.WhenAny(sink.Completion, callerGone).ConfigureAwait(false);
        if (finished == callerGone)
        {
            runtime.CloseSession(sessionId);
            return;
        }
        // No read may outlive the call: Kestrel reuses the stream's request pipe for a later request, which
        // would then fail with "Reading is already in progress".
        stopReading.Cancel();
        await callerGone.ConfigureAwait(false);
        await sink.Completion.ConfigureAwait(false);  // rethrows the stage's failure as this call's status
    }

    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (await requests.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                // A result stream carries nothing after the attach; ignore stray messages.
            }
        }
        catch (Exception exception) when (exception is OperationCanceledException or IOException or InvalidOperationException)
        {
            // The coordinator disconnected.
        }
    }
}
