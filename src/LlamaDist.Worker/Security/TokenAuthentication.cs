using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace LlamaDist.Worker.Security;

/// <summary>
/// Checks the cluster token on every request before routing hands it to gRPC: a call without "authorization:
/// Bearer &lt;token&gt;", or with another token, is answered UNAUTHENTICATED at once (a trailers-only gRPC
/// response) without reading its body, so a stranger can make the worker parse, allocate or run nothing.
/// </summary>
internal static class TokenAuthentication
{
    public const string RefusalMessage = "This worker requires its cluster token: the call carried none or another one.";

    public static void UseTokenAuthentication(this WebApplication application, string token, ILogger logger)
    {
        application.Use(async (context, next) =>
        {
            if (ClusterToken.Matches(token, context.Request.Headers.Authorization.ToString()))
            {
                await next(context).ConfigureAwait(false);
                return;
            }
            // The path is the gRPC method ("/llamadist.v1.LlamaWorker/LoadRange"); cut it so a hostile one
            // cannot flood the log.
            var path = context.Request.Path.Value ?? "";
            logger.LogWarning("Refused an unauthenticated call to {Method} from {Peer}",
                path.Length > 80 ? path[..80] : path, context.Connection.RemoteIpAddress);
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/grpc";
            context.Response.Headers["grpc-status"] = "16";  // UNAUTHENTICATED
            context.Response.Headers["grpc-message"] = RefusalMessage;
            context.Response.Headers[WorkerCallException.FailureTrailer] = nameof(WorkerFailure.AuthenticationFailed);
        });
    }
}
