using Grpc.Core;
using LlamaDist.Distributed.Client;

namespace LlamaDist.Worker.State;

/// <summary>
/// Failures a worker reports: a gRPC status plus the <see cref="WorkerFailure"/> trailer the coordinator turns
/// back into a typed exception. Nothing a caller sends can do more than fail its own call.
/// </summary>
internal static class WorkerErrors
{
    /// <summary>Longest status message a worker sends: it travels in a header, and callers put it in their errors.</summary>
    public const int MaxMessageLength = 1024;

    /// <summary>Longest piece of caller-supplied text quoted in a message.</summary>
    public const int MaxQuoteLength = 80;

    public static RpcException Create(StatusCode code, WorkerFailure failure, string message)
    {
        var trailers = new Metadata { { WorkerCallException.FailureTrailer, failure.ToString() } };
        var bounded = message.Length <= MaxMessageLength ? message : message[..(MaxMessageLength - 1)] + "…";
        return new RpcException(new Status(code, bounded), trailers);
    }

    /// <summary>
    /// Caller-supplied text as a message may quote it: in quotes, control characters escaped, cut to
    /// <see cref="MaxQuoteLength"/> characters with its full length said (a 1 MiB hash is not echoed back).
    /// </summary>
    public static string Quote(string? text)
    {
        text ??= "";
        var shown = text.Length <= MaxQuoteLength ? text : text[..MaxQuoteLength];
        var escaped = string.Concat(shown.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));
        return text.Length <= MaxQuoteLength ? $"'{escaped}'" : $"'{escaped}…' ({text.Length:N0} characters)";
    }

    public static RpcException Invalid(string message) => Create(StatusCode.InvalidArgument, WorkerFailure.Rejected, message);

    public static RpcException NotFound(string message) => Create(StatusCode.NotFound, WorkerFailure.Rejected, message);

    public static RpcException Precondition(string message) => Create(StatusCode.FailedPrecondition, WorkerFailure.Rejected, message);

    public static RpcException ModelMismatch(string message) => Create(StatusCode.FailedPrecondition, WorkerFailure.ModelMismatch, message);

    public static RpcException OutOfMemory(string message) => Create(StatusCode.ResourceExhausted, WorkerFailure.OutOfMemory, message);
}
