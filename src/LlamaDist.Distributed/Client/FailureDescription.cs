using System.Net.Http;
using System.Net.Sockets;
using Grpc.Core;

namespace LlamaDist.Distributed.Client;

/// <summary>
/// What a failed call observed, in plain words a user can act on — "connection refused", "connection reset",
/// "no answer within 5 s (deadline exceeded)" — instead of the transport's own ("Error connecting to
/// subchannel", "The operation was canceled."). Looks through the exception chain, gRPC's debug exception
/// included, for the socket error or HTTP/2 event underneath.
/// </summary>
public static class FailureDescription
{
    /// <summary>The plain-words observation behind <paramref name="exception"/>, or null when nothing specific is found.</summary>
    public static string? Observe(Exception exception)
    {
        for (Exception? current = exception; current is not null;
             current = current is RpcException rpc ? rpc.Status.DebugException ?? rpc.InnerException : current.InnerException)
        {
            switch (current)
            {
                case SocketException socket:
                    return socket.SocketErrorCode switch
                    {
                        SocketError.ConnectionRefused => "connection refused (nothing listens on that port)",
                        SocketError.ConnectionReset => "connection reset (the worker's process ended or dropped the connection)",
                        SocketError.ConnectionAborted => "connection aborted",
                        SocketError.TimedOut => "connection timed out (no answer from the host)",
                        SocketError.HostUnreachable or SocketError.NetworkUnreachable => "host unreachable",
                        SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain => "host name not found",
                        SocketError.Shutdown => "connection closed",
                        _ => $"network error ({socket.SocketErrorCode})",
                    };
                case HttpIOException http when http.HttpRequestError == HttpRequestError.ResponseEnded:
                    return "connection closed before the worker answered (its process ended or dropped the connection)";
                case HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError } when current.InnerException is null:
                    return "connection failed";
                case System.Security.Authentication.AuthenticationException:
                    return "TLS handshake failed";
            }
        }
        if (exception is RpcException status)
        {
            return status.StatusCode switch
            {
                StatusCode.DeadlineExceeded => "deadline exceeded (no answer in time)",
                StatusCode.Unauthenticated => "authentication failed (the cluster token was refused)",
                StatusCode.Cancelled => "the call was cancelled by the other side",
                _ => null,
            };
        }
        return null;
    }

    /// <summary>"no answer within 5 s (deadline exceeded)": what a call that ran out of time observed.</summary>
    public static string Deadline(TimeSpan limit) =>
        $"no answer within {Seconds(limit)} (deadline exceeded)";

    /// <summary>"5 s", "0.5 s", "2 min".</summary>
    public static string Seconds(TimeSpan span) =>
        span.TotalSeconds >= 120 ? $"{span.TotalMinutes:0.#} min"
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{span.TotalSeconds:0.###} s");
}
