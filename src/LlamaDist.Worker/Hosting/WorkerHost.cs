using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Security;
using LlamaDist.Worker.Security;
using LlamaDist.Worker.Service;
using LlamaDist.Worker.State;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LlamaDist.Worker.Hosting;

/// <summary>
/// A running worker: Kestrel listening on one address with HTTP/2 only (cleartext with prior knowledge, or over
/// TLS with a certificate; HTTP/1 would make cleartext gRPC clients fail with HTTP_1_1_REQUIRED), the cluster
/// token checked on every request when one is set, serving <see cref="WorkerService"/> over one
/// <see cref="WorkerRuntime"/>. Used by the executable and, inside pwsh, by the embedded worker.
/// </summary>
public sealed class WorkerHost : IAsyncDisposable
{
    private readonly WebApplication application;
    private readonly WorkerRuntime runtime;

    private WorkerHost(WebApplication application, WorkerRuntime runtime, WorkerEndpoint endpoint, WorkerEndpoint localEndpoint, string? certificateThumbprint)
    {
        this.application = application;
        this.runtime = runtime;
        Endpoint = endpoint;
        LocalEndpoint = localEndpoint;
        CertificateThumbprint = certificateThumbprint;
    }

    /// <summary>SHA-256 thumbprint of the TLS certificate clients pin for this worker; null when it serves cleartext.</summary>
    public string? CertificateThumbprint { get; }

    /// <summary>
    /// The endpoint others dial, with the real port when 0 was asked for: the bound address, or for a wildcard
    /// (0.0.0.0, ::) the advertised one (see <see cref="Lifecycle.AdvertisedAddress"/>).
    /// </summary>
    public WorkerEndpoint Endpoint { get; }

    /// <summary>The endpoint this machine dials: loopback for a wildcard binding, else <see cref="Endpoint"/>.</summary>
    public WorkerEndpoint LocalEndpoint { get; }

    public string WorkerId => runtime.Identity.WorkerId;

    public string Name => runtime.Identity.HostName;

    public int Threads => runtime.Threads.ThreadCount;

    /// <summary>The port the shards of a tensor split link to each other on (see <see cref="WorkerOptions.PeerPort"/>).</summary>
    public int PeerPort => runtime.Shards.PeerPort;

    public long TotalMemoryBytes => runtime.TotalMemoryBytes;

    /// <summary>Where hosted ranges run: CPU, CUDA, OPENCL or ILGPUCPU, as the handshake reports it.</summary>
    public string Backend => runtime.Handshake().Capabilities.Backend.ToString().ToUpperInvariant();

    /// <summary>The device hosted ranges run on.</summary>
    public string DeviceName => runtime.Handshake().Capabilities.DeviceName;

    public double BytesPerSecond => runtime.BytesPerSecond;

    public int SessionCount => runtime.SessionCount;

    /// <summary>Completes when the host stops (Ctrl+C for the executable, <see cref="DisposeAsync"/> otherwise).</summary>
    public Task Stopped => application.WaitForShutdownAsync();

    /// <summary>
    /// Starts a worker. <paramref name="logging"/> adds log providers; <paramref name="services"/> adds host services
    /// (the executable's systemd and Windows service integration).
    /// </summary>
    public static async Task<WorkerHost> StartAsync(WorkerOptions options, Action<ILoggingBuilder>? logging = null, CancellationToken cancellationToken = default,
        Action<IServiceCollection>? services = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!IPAddress.TryParse(options.Address, out var address) && !options.Address.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            throw new WorkerStartException(WorkerStartFailure.InvalidAddress,
                $"'{options.Address}' is not an IP address; give one of this machine's addresses, e.g. 127.0.0.1 or 0.0.0.0.");
        }
        address ??= IPAddress.Loopback;
        if (options.Port is < 0 or > 65535 || options.PeerPort is < 0 or > 65535)
        {
            throw new WorkerStartException(WorkerStartFailure.InvalidAddress, $"Port {options.Port} or peer port {options.PeerPort} is outside 0..65535.");
        }
        if (!IPAddress.IsLoopback(address) && options.Token is null && !options.AllowInsecure)
        {
            throw new WorkerStartException(WorkerStartFailure.InsecureBinding,
                $"Refusing to listen on {options.Address} without a cluster token: anyone who reaches the port could use the worker. Give a token (-Token/-TokenFile, --token-file), or -AllowInsecure on a network you trust.");
        }
        var certificate = LoadCertificate(options);
        if (options.TrustedClientThumbprints.Count > 0 && certificate is null)
        {
            throw new WorkerStartException(WorkerStartFailure.InvalidCertificate,
                "Client certificates (mutual TLS) need the worker to serve TLS itself: give it a certificate too.");
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "LlamaDist.Worker" });
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        services?.Invoke(builder.Services);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(address, options.Port, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                if (certificate is not null)
                {
                    listen.UseHttps(https =>
                    {
                        https.ServerCertificate = certificate;
                        if (options.TrustedClientThumbprints.Count > 0)
                        {
                            // Mutual TLS: the handshake itself refuses a caller without a pinned client certificate.
                            // The worker's own certificate is trusted too: its operator's tools present it to check on it.
                            var trusted = options.TrustedClientThumbprints.Select(CertificatePins.Normalize)
                                .Append(CertificatePins.Thumbprint(certificate)).ToHashSet(StringComparer.OrdinalIgnoreCase);
                            https.ClientCertificateMode = Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.RequireCertificate;
                            https.ClientCertificateValidation = (client, _, _) => trusted.Contains(CertificatePins.Thumbprint(client));
                        }
                    });
                }
            });
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(30);
            kestrel.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(30);
            // Prompt batches are a few MB: larger windows keep a hop from stalling on flow control.
            kestrel.Limits.Http2.InitialConnectionWindowSize = 4 << 20;
            kestrel.Limits.Http2.InitialStreamWindowSize = 2 << 20;
        });
        var runtime = new WorkerRuntime(options) { OwnCertificate = certificate };
        var application = Build(builder, runtime);
        var startLog = application.Services.GetRequiredService<ILoggerFactory>().CreateLogger("LlamaDist.Worker");
        if (!IPAddress.IsLoopback(address) && options.Token is null)
        {
            startLog.LogWarning("Listening on {Address} without a cluster token (-AllowInsecure): anyone who can reach this port can use the worker.", options.Address);
        }
        try
        {
            await application.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (IsAddressInUse(exception))
        {
            await application.DisposeAsync().ConfigureAwait(false);
            runtime.Dispose();
            throw new WorkerStartException(WorkerStartFailure.PortInUse,
                $"Port {options.Port} on {options.Address} is already in use; stop what listens there or choose another -Port.", exception);
        }
        catch (Exception exception) when (exception is SocketException or IOException)
        {
            await application.DisposeAsync().ConfigureAwait(false);
            runtime.Dispose();
            throw new WorkerStartException(WorkerStartFailure.InvalidAddress,
                $"Cannot listen on {options.Address}:{options.Port}: {exception.Message}", exception);
        }
        try
        {
            runtime.Shards.StartPeerListener(address, options.PeerPort, certificate);
        }
        catch (SocketException exception)
        {
            await application.DisposeAsync().ConfigureAwait(false);
            runtime.Dispose();
            throw IsAddressInUse(exception)
                ? new WorkerStartException(WorkerStartFailure.PortInUse,
                    $"Peer port {options.PeerPort} on {options.Address} is already in use; stop what listens there or choose another -PeerPort.", exception)
                : new WorkerStartException(WorkerStartFailure.InvalidAddress,
                    $"Cannot listen for peer links on {options.Address}:{options.PeerPort}: {exception.Message}", exception);
        }

        var bound = application.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var port = new Uri(bound).Port;
        var tls = certificate is not null;
        var advertised = new WorkerEndpoint(Lifecycle.AdvertisedAddress.For(address, options.AdvertiseAddress), port) { Tls = tls };
        var local = new WorkerEndpoint(Lifecycle.AdvertisedAddress.LocalDialAddress(address).ToString(), port) { Tls = tls };
        if (Lifecycle.AdvertisedAddress.IsWildcard(address))
        {
            startLog.LogInformation("Bound to {Address}; advertising {Endpoint}", options.Address, advertised);
        }
        return new WorkerHost(application, runtime, advertised, local, certificate is null ? null : CertificatePins.Thumbprint(certificate));
    }

    /// <summary>
    /// The worker's services and endpoint on whatever server <paramref name="builder"/> was given: Kestrel in
    /// <see cref="StartAsync"/>, an in-memory TestServer in tests, so both serve exactly the same registration.
    /// </summary>
    internal static WebApplication Build(WebApplicationBuilder builder, WorkerRuntime runtime)
    {
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = WorkerChannels.MaxMessageBytes;
            grpc.MaxSendMessageSize = WorkerChannels.MaxMessageBytes;
            grpc.EnableDetailedErrors = false;
            grpc.Interceptors.Add<UnexpectedErrorInterceptor>();
        });
        builder.Services.AddSingleton(runtime);
        // The standard grpc.health.v1 service (authenticated like every call): coordinators probe it to tell a
        // stage that is busy with a long step (it answers) from one that is dead or frozen (it does not).
        builder.Services.AddGrpcHealthChecks().AddCheck<WorkerHealthCheck>("llamadist-worker");
        var application = builder.Build();
        if (runtime.Options.Token is { } token)
        {
            application.UseTokenAuthentication(token, application.Services.GetRequiredService<ILoggerFactory>().CreateLogger("LlamaDist.Worker.Security"));
        }
        application.MapGrpcService<WorkerService>();
        application.MapGrpcHealthChecksService();
        return application;
    }

    /// <summary>The TLS certificate (with its private key) the options name, or null for cleartext.</summary>
    private static X509Certificate2? LoadCertificate(WorkerOptions options)
    {
        if (string.IsNullOrEmpty(options.CertificatePath))
        {
            return null;
        }
        try
        {
            X509Certificate2 certificate;
            if (!string.IsNullOrEmpty(options.CertificateKeyPath))
            {
                using var pem = string.IsNullOrEmpty(options.CertificatePassword)
                    ? X509Certificate2.CreateFromPemFile(options.CertificatePath, options.CertificateKeyPath)
                    : X509Certificate2.CreateFromEncryptedPemFile(options.CertificatePath, options.CertificatePassword, options.CertificateKeyPath);
                // Re-imported through PKCS#12 so the key is usable by SslStream on every platform.
                certificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
            }
            else
            {
                certificate = X509CertificateLoader.LoadPkcs12FromFile(options.CertificatePath, options.CertificatePassword);
            }
            if (!certificate.HasPrivateKey)
            {
                throw new WorkerStartException(WorkerStartFailure.InvalidCertificate, $"The certificate {options.CertificatePath} has no private key.");
            }
            return certificate;
        }
        catch (Exception exception) when (exception is System.Security.Cryptography.CryptographicException or IOException or ArgumentException or UnauthorizedAccessException)
        {
            throw new WorkerStartException(WorkerStartFailure.InvalidCertificate,
                $"Cannot use the TLS certificate {options.CertificatePath}: {exception.Message}", exception);
        }
    }

    private static bool IsAddressInUse(Exception exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is AddressInUseException || current is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse })
            {
                return true;
            }
        }
        return false;
    }

    public async ValueTask DisposeAsync()
    {
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            try
            {
                await application.StopAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Streams that did not end in time are aborted by disposal below.
            }
        }
        await application.DisposeAsync().ConfigureAwait(false);
        runtime.Dispose();
    }
}
