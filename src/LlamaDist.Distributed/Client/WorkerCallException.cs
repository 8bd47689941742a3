using System.Net.Http;
using Grpc.Core;

namespace LlamaDist.Distributed.Client;

/// <summary>A call to a worker failed; names the worker and why.</summary>
public sealed class WorkerCallException : Exception
{
    public WorkerCallException(string endpoint, WorkerFailure failure, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Endpoint = endpoint;
        Failure = failure;
    }

    public string Endpoint { get; }

    public WorkerFailure Failure { get; }

    /// <summary>The worker gave no answer within the call's deadline (it may be frozen rather than gone).</summary>
    public bool DeadlineExceeded { get; init; }

    /// <summary>
    /// A tensor shard that answered this failure said which peer shard (its index in the group) stopped
    /// exchanging partial sums with it (<see cref="LostShardTrailer"/>); null otherwise.
    /// </summary>
    public int? LostShard { get; init; }

    /// <summary>
    /// The worker-side reason a status carries in its trailers (see <see cref="FailureTrailer"/>), else one
    /// derived from the status code.
    /// </summary>
    public static WorkerCallException FromRpc(string endpoint, RpcException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var failure = exception.Trailers.GetValue(FailureTrailer) is { } named && Enum.TryParse<WorkerFailure>(named, out var parsed)
            ? parsed
            : IsCertificateFailure(exception) ? WorkerFailure.CertificateRejected
            // The HTTP/2 connection itself failed (refused, reset, or closed during its handshake, as a worker that
            // requires a client certificate does to a caller without one): nothing answered the call.
            : exception.Status.DebugException is HttpRequestException ? WorkerFailure.Unreachable
            : exception.StatusCode switch
            {
                StatusCode.Unauthenticated => WorkerFailure.AuthenticationFailed,
                StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Cancelled => WorkerFailure.Unreachable,
                // A worker short of memory says so in its trailer; a bare RESOURCE_EXHAUSTED is gRPC's own limit
                // (a message larger than the channel takes), not the worker's memory.
                StatusCode.ResourceExhausted => WorkerFailure.Failed,
                StatusCode.InvalidArgument or StatusCode.NotFound or StatusCode.FailedPrecondition or StatusCode.OutOfRange => WorkerFailure.Rejected,
                _ => WorkerFailure.Failed,
            };
        var detail = string.IsNullOrWhiteSpace(exception.Status.Detail) ? exception.StatusCode.ToString() : exception.Status.Detail;
        // What was observed underneath (refused, reset, deadline) in plain words; a worker's own detail otherwise.
        var observed = FailureDescription.Observe(exception);
        var message = failure switch
        {
            WorkerFailure.Unreachable when observed is not null && exception.Trailers.GetValue(FailureTrailer) is null => $"Worker {endpoint} is unreachable: {observed}",
            WorkerFailure.Unreachable => $"Worker {endpoint} is unreachable: {detail}",
            WorkerFailure.AuthenticationFailed when observed is not null && detail == nameof(StatusCode.Unauthenticated) => $"Worker {endpoint}: {observed}",
            WorkerFailure.CertificateRejected => CertificateMessage(endpoint),
            _ => $"Worker {endpoint}: {detail}",
        };
        return new WorkerCallException(endpoint, failure, message, exception) { LostShard = ReadLostShard(exception.Trailers) };
    }

    /// <summary>Most shards a trailer may name: a tensor-parallel group is a handful of machines.</summary>
    private const int MaxShardIndex = 1023;

    private static int? ReadLostShard(Metadata trailers) =>
        trailers.GetValue(LostShardTrailer) is { Length: <= 4 } text
            && int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int shard)
            && shard <= MaxShardIndex
            ? shard
            : null;

    /// <summary>Whether a failed connection was the TLS handshake refusing the worker's certificate.</summary>
    public static bool IsCertificateFailure(Exception exception)
    {
        for (Exception? current = exception; current is not null;
             current = current is RpcException rpc ? rpc.Status.DebugException : current.InnerException)
        {
            if (current is System.Security.Authentication.AuthenticationException)
            {
                return true;
            }
        }
        return false;
    }

    public static string CertificateMessage(string endpoint) =>
        $"Worker {endpoint}: the TLS handshake failed. Either its certificate is not trusted (its thumbprint matches no -CertificateThumbprint given, or, with none given, the system's certificate authorities refuse it), or it requires a client certificate (mutual TLS) that was not given or that it does not trust.";

    /// <summary>Trailer in which a worker names the <see cref="WorkerFailure"/> of a failed call.</summary>
    public const string FailureTrailer = "llamadist-failure";

    /// <summary>Trailer in which a tensor shard names (by index) the peer shard it lost; see <see cref="LostShard"/>.</summary>
    public const string LostShardTrailer = "llamadist-lost-shard";
}
