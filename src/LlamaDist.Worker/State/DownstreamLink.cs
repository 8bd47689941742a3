using Grpc.Core;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Worker.State;

/// <summary>
/// A stage's persistent Forward stream to the next stage of the ring, for one session. Each step's output is
/// one request message on it. The next stage never answers on this stream in a healthy ring (its outputs go
/// further on), so anything arriving here — an error status or an early end — means the ring broke: the link
/// records why and trips <see cref="Broken"/>, which ends this stage's own upstream stream with that status.
/// </summary>
internal sealed class DownstreamLink : IDisposable
{
    private readonly AsyncDuplexStreamingCall<ForwardRequest, ForwardReply> call;
    private readonly CancellationTokenSource broken = new();
    private readonly Task watcher;

    public DownstreamLink(WorkerEndpoint endpoint, LlamaWorker.LlamaWorkerClient client)
    {
        Endpoint = endpoint;
        call = client.Forward();
        watcher = WatchAsync();
    }

    public WorkerEndpoint Endpoint { get; }

    /// <summary>Cancelled when the next stage failed or went away.</summary>
    public CancellationToken Broken => broken.Token;

    /// <summary>Why the link broke, as the status to pass upstream.</summary>
    public RpcException? Failure { get; private set; }

    public async Task SendAsync(ForwardRequest request, CancellationToken cancellationToken)
    {
        try
        {
            await call.RequestStream.WriteAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException or IOException)
        {
            await Task.WhenAny(watcher, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None)).ConfigureAwait(false);
            throw Failure ?? WorkerErrors.Create(StatusCode.Unavailable, WorkerFailure.Unreachable,
                $"Next stage {Endpoint} is unreachable: {exception.Message}");
        }
    }

    private async Task WatchAsync()
    {
        try
        {
            if (await call.ResponseStream.MoveNext(CancellationToken.None).ConfigureAwait(false))
            {
                Failure = WorkerErrors.Create(StatusCode.Internal, WorkerFailure.Failed,
                    $"Next stage {Endpoint} answered on the ring's forward stream; it has no result stream attached.");
            }
            else
            {
                Failure = WorkerErrors.Create(StatusCode.Unavailable, WorkerFailure.Unreachable, $"Next stage {Endpoint} closed the ring.");
            }
        }
        catch (RpcException exception) when (exception.StatusCode != StatusCode.Cancelled)
        {
            // Keep the failing stage's own words and reason; say which hop reported it.
            var detail = exception.Status.Detail.StartsWith("Worker ", StringComparison.Ordinal)
                ? exception.Status.Detail : $"Worker {Endpoint}: {exception.Status.Detail}";
            // Bounded again: each hop adds its prefix to a message the next stage may already have filled.
            Failure = new RpcException(new Status(exception.StatusCode, WorkerErrors.Bound(detail)), exception.Trailers);
        }
        catch (Exception exception) when (exception is RpcException or IOException or InvalidOperationException or OperationCanceledException)
        {
            Failure = WorkerErrors.Create(StatusCode.Unavailable, WorkerFailure.Unreachable, $"Next stage {Endpoint} went away: {exception.Message}");
        }
        broken.Cancel();
    }

    public void Dispose()
    {
        try
        {
            call.RequestStream.CompleteAsync().Wait(TimeSpan.FromSeconds(2));
        }
        catch (Exception exception) when (exception is AggregateException or InvalidOperationException or RpcException)
        {
            // Already broken; disposing the call below cancels it.
        }
        call.Dispose();
        broken.Dispose();
    }
}
