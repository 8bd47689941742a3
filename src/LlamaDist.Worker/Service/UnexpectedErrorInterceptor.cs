using Grpc.Core;
using Grpc.Core.Interceptors;
using LlamaDist.Distributed.Client;
using Microsoft.Extensions.Logging;

namespace LlamaDist.Worker.Service;

/// <summary>
/// Turns an exception the service did not expect into INTERNAL with its type and message (and logs it with its
/// stack), instead of gRPC's bare "Exception was thrown by handler": the coordinator then names what failed on
/// which worker. Expected failures are RpcExceptions already and pass through unchanged.
/// </summary>
internal sealed class UnexpectedErrorInterceptor(ILogger<UnexpectedErrorInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not RpcException and not OperationCanceledException)
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
        catch (Exception exception) when (exception is not RpcException and not OperationCanceledException)
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
        catch (Exception exception) when (exception is not RpcException and not OperationCanceledException)
        {
            throw Translate(context, exception);
        }
    }

    private RpcException Translate(ServerCallContext context, Exception exception)
    {
        logger.LogError(exception, "{Method} failed unexpectedly", context.Method);
        var trailers = new Metadata { { WorkerCallException.FailureTrailer, WorkerFailure.Failed.ToString() } };
        return new RpcException(new Status(StatusCode.Internal, $"{context.Method} failed: {exception.GetType().Name}: {exception.Message}"), trailers);
    }
}
