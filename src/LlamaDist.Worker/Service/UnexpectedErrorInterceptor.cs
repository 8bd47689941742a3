using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using LlamaDist.Distributed.Client;
using LlamaDist.Worker.State;
using Microsoft.Extensions.Logging;

namespace LlamaDist.Worker.Service;

/// <summary>
/// The last line between a handler and the caller: whatever a handler throws that is not already an
/// RpcException leaves as a documented status, never as gRPC's bare Unknown ("Exception was thrown by handler"):
/// <list type="bullet">
/// <item>a malformed message read from a stream (InvalidProtocolBufferException) or size arithmetic that
///   overflowed (OverflowException) is the caller's fault: InvalidArgument;</item>
/// <item>a cancelled call or a stream the caller reset: Cancelled;</item>
/// <item>anything else is a defect of the worker: INTERNAL with an incident number and no internals (no type,
///   message or path that would tell a stranger about the host); the exception is logged under that number.</item>
/// </list>
/// Malformed unary requests never reach a handler; <see cref="HardenedServiceBinding"/> answers those.
/// </summary>
internal sealed class UnexpectedErrorInterceptor(ILogger<UnexpectedErrorInterceptor> logger) : Interceptor
{
    private static long incidents;

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not RpcException)
        {
            throw Translate(context, exception);
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not RpcException)
        {
            throw Translate(context, exception);
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not RpcException)
        {
            throw Translate(context, exception);
        }
    }

    private RpcException Translate(ServerCallContext context, Exception exception)
    {
        switch (exception)
        {
            case InvalidProtocolBufferException:
                logger.LogWarning("{Method} from {Peer}: malformed message", context.Method, context.Peer);
                return WorkerErrors.Invalid($"{context.Method}: the request is not a valid message of this protocol.");
            case OverflowException:
                logger.LogWarning("{Method} from {Peer}: a size in the request overflows", context.Method, context.Peer);
                return WorkerErrors.Invalid($"{context.Method}: a size or count in the request is too large to compute with.");
            case OperationCanceledException or IOException:
                return WorkerErrors.Create(StatusCode.Cancelled, WorkerFailure.Failed, $"{context.Method} was cancelled.");
            default:
                long incident = Interlocked.Increment(ref incidents);
                logger.LogError(exception, "{Method} from {Peer} failed unexpectedly (incident {Incident})", context.Method, context.Peer, incident);
                var trailers = new Metadata { { WorkerCallException.FailureTrailer, WorkerFailure.Failed.ToString() } };
                return new RpcException(new Status(StatusCode.Internal,
                    $"{context.Method} failed unexpectedly on this worker (incident {incident}); its log has the details."), trailers);
        }
    }
}
