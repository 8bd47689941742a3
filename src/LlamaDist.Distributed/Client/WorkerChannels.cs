using System.Net.Http;
using Grpc.Net.Client;
using LlamaDist.Distributed.Security;

namespace LlamaDist.Distributed.Client;

/// <summary>
/// How every LlamaDist peer opens a channel: cleartext HTTP/2 (prior knowledge) or, for https endpoints, HTTP/2
/// over TLS trusting pinned certificate thumbprints or the system's CAs; the cluster token on every request;
/// keep-alive pings so a dead peer is noticed on an idle ring, and message limits large enough for a prompt
/// batch's activations but far below what would exhaust memory. Coordinators and workers use the same settings.
/// </summary>
public static class WorkerChannels
{
    /// <summary>Largest message either side accepts: 512 tokens x 8192 wide x f32 is 16 MiB; 64 MiB leaves room.</summary>
    public const int MaxMessageBytes = 64 << 20;

    public static GrpcChannel Open(WorkerEndpoint endpoint) => Open(endpoint, WorkerCredentials.None);

    public static GrpcChannel Open(WorkerEndpoint endpoint, WorkerCredentials credentials)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(credentials);
        var sockets = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(10),
            KeepAlivePingDelay = TimeSpan.FromSeconds(20),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
        };
        if (endpoint.Tls)
        {
            sockets.SslOptions.RemoteCertificateValidationCallback = CertificatePins.Validator(credentials.CertificateThumbprints);
            if (credentials.ClientCertificate is { } client)
            {
                sockets.SslOptions.ClientCertificates = [client];
            }
        }
        HttpMessageHandler handler = credentials.Token is { } token ? new BearerTokenHandler(token, sockets) : sockets;
        return GrpcChannel.ForAddress(endpoint.ToUri(), new GrpcChannelOptions
        {
            HttpHandler = handler,
            MaxReceiveMessageSize = MaxMessageBytes,
            MaxSendMessageSize = MaxMessageBytes,
            DisposeHttpClient = true,
            // The caller's own cancellation surfaces as OperationCanceledException, never as a worker failure.
            ThrowOperationCanceledOnCancellation = true,
            // After a refused connection gRPC waits before dialling again, and meanwhile fails every call at once
            // ("Error connecting to subchannel"); by default that wait grows to two minutes. Capped at one second
            // here, a worker restarted on its port is reachable again (and repaired) within a second.
            InitialReconnectBackoff = TimeSpan.FromMilliseconds(100),
            MaxReconnectBackoff = TimeSpan.FromSeconds(1),
        });
    }
}
