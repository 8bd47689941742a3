using System.Net;
using System.Net.Sockets;
using LlamaDist.Distributed.Client;
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
/// A running worker: Kestrel listening on one address with cleartext HTTP/2 only (HTTP/1 would make gRPC clients
/// without TLS fail with HTTP_1_1_REQUIRED), serving <see cref="WorkerService"/> over one
/// <see cref="WorkerRuntime"/>. Used by the executable and, inside pwsh, by the embedded worker.
/// </summary>
public sealed class WorkerHost : IAsyncDisposable
{
    private readonly WebApplication application;
    private readonly WorkerRuntime runtime;

    private WorkerHost(WebApplication application, WorkerRuntime runtime, WorkerEndpoint endpoint)
    {
        this.application = application;
        this.runtime = runtime;
        Endpoint = endpoint;
    }

    /// <summary>The address actually bound (the real port when 0 was asked for).</summary>
    public WorkerEndpoint Endpoint { get; }

    public string WorkerId => runtime.Identity.WorkerId;

    public string Name => runtime.Identity.HostName;

    public int Threads => runtime.Threads.ThreadCount;

    public long TotalMemoryBytes => runtime.TotalMemoryBytes;

    public double BytesPerSecond => runtime.BytesPerSecond;

    public int SessionCount => runtime.SessionCount;

    /// <summary>Completes when the host stops (Ctrl+C for the executable, <see cref="DisposeAsync"/> otherwise).</summary>
    public Task Stopped => application.WaitForShutdownAsync();

    public static async Task<WorkerHost> StartAsync(WorkerOptions options, Action<ILoggingBuilder>? logging = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!IPAddress.TryParse(options.Address, out var address) && !options.Address.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            throw new WorkerStartException(WorkerStartFailure.InvalidAddress,
                $"'{options.Address}' is not an IP address; give one of this machine's addresses, e.g. 127.0.0.1 or 0.0.0.0.");
        }
        address ??= IPAddress.Loopback;
        if (options.Port is < 0 or > 65535)
        {
            throw new WorkerStartException(WorkerStartFailure.InvalidAddress, $"Port {options.Port} is outside 0..65535.");
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "LlamaDist.Worker" });
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(address, options.Port, listen => listen.Protocols = HttpProtocols.Http2);
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(30);
            kestrel.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(30);
            // Prompt batches are a few MB: larger windows keep a hop from stalling on flow control.
            kestrel.Limits.Http2.InitialConnectionWindowSize = 4 << 20;
            kestrel.Limits.Http2.InitialStreamWindowSize = 2 << 20;
        });
        var runtime = new WorkerRuntime(options);
        var application = Build(builder, runtime);
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

        var bound = application.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var port = new Uri(bound).Port;
        return new WorkerHost(application, runtime, new WorkerEndpoint(address.ToString(), port));
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
        var application = builder.Build();
        application.MapGrpcService<WorkerService>();
        return application;
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
