using Grpc.Core;
using LlamaDist.Distributed.Client;

namespace LlamaDist.Worker.State;

/// <summary>
/// Failures a worker reports: a gRPC status plus the <see cref="WorkerFailure"/> trailer the coordinator turns
/// back into a typed exception. Nothing a caller sends can do more than fail its own call.
/// Messages quote caller input only through <see cref="WorkerInput.Quote"/>, and are cut at
/// <see cref="MaxMessageCharacters"/> besides: the message travels percent-encoded in the grpc-message trailer,
/// and trailers past the peer's header-list limit (HTTP/2, 64 KiB by default) break the call as Unavailable
/// instead of delivering the status.
/// </summary>
internal static class WorkerErrors
{
    /// <summary>Longest status message a worker sends (at most about 9 KiB once percent-encoded).</summary>
    public const int MaxMessageCharacters = 1024;

    public static RpcException Create(StatusCode code, WorkerFailure failure, string message)
    {
        var trailers = new Metadata { { WorkerCallException.FailureTrailer, failure.ToString() } };
        return new RpcException(new Status(code, Bound(message)), trailers);
    }

    /// <summary><paramref name="message"/>, cut to <see cref="MaxMessageCharacters"/> (never inside a surrogate pair).</summary>
    public static string Bound(string message)
    {
        if (message.Length <= MaxMessageCharacters)
        {
            return message;
        }
        int keep = MaxMessageCharacters - 1;
        if (char.IsHighSurrogate(message[keep - 1]))
        {
            keep--;
        }
        return string.Concat(message.AsSpan(0, keep), "…");
    }

    /// <summary>
    /// A tensor shard's peer <paramref name="shard"/> broke off the exchange of partial sums: unavailable, with the
    /// peer's index in <see cref="WorkerCallException.LostShardTrailer"/>, so the coordinator blames that shard
    /// rather than this one, which is alive and reporting it.
    /// </summary>
    public static RpcException LostShard(int shard, string message)
    {
        var exception = Create(StatusCode.Unavailable, WorkerFailure.Unreachable, message);
        exception.Trailers.Add(WorkerCallException.LostShardTrailer, shard.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return exception;
    }

    public static RpcException Invalid(string message) => Create(StatusCode.InvalidArgument, WorkerFailure.Rejected, message);

    public static RpcException NotFound(string message) => Create(StatusCode.NotFound, WorkerFailure.Rejected, message);

    public static RpcException Precondition(string message) => Create(StatusCode.FailedPrecondition, WorkerFailure.Rejected, message);

    public static RpcException ModelMismatch(string message) => Create(StatusCode.FailedPrecondition, WorkerFailure.ModelMismatch, message);

    public static RpcException OutOfMemory(string message) => Create(StatusCode.ResourceExhausted, WorkerFailure.OutOfMemory, message);
}
