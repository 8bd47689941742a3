using Grpc.Core;
using LlamaDist.Distributed.Client;

namespace LlamaDist.Worker.State;

/// <summary>
/// Failures a worker reports: a gRPC status plus the <see cref="WorkerFailure"/> trailer the coordinator turns
/// back into a typed exception. Nothing a caller sends can do more than fail its own call.
/// </summary>
internal static class WorkerErrors
{
    public static RpcException Create(StatusCode code, WorkerFailure failure, string message)
    {
        var trailers = new Metadata { { WorkerCallException.FailureTrailer, failure.ToString() } };
        return new RpcException(new Status(code, message), trailers);
    }

    public static RpcException Invalid(string message) => Create(StatusCode.InvalidArgument, WorkerFailure.Rejected, message);

    public static RpcException NotFound(string message) => Create(StatusCode.NotFound, WorkerFailure.Rejected, message);

    public static RpcException Precondition(string message) => Create(StatusCode.FailedPrecondition, WorkerFailure.Rejected, message);

    public static RpcException ModelMismatch(string message) => Create(StatusCode.FailedPrecondition, WorkerFailure.ModelMismatch, message);

    public static RpcException OutOfMemory(string message) => Create(StatusCode.ResourceExhausted, WorkerFailure.OutOfMemory, message);
}
