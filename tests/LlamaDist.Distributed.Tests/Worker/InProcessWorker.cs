using Grpc.Net.Client;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Worker.Hosting;
using LlamaDist.Worker.State;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Logging;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>
/// A worker served by the same registration as <see cref="WorkerHost"/> (<see cref="WorkerHost.Build"/>), on an
/// in-memory TestServer instead of Kestrel: no ports. It has one compute thread, its own empty cache directory,
/// and a made-up endpoint name ("worker-a:50052") that <see cref="Route"/> makes reachable from other
/// in-process workers, so rings run without sockets (tensor-parallel shards' links, which are sockets by
/// design, listen and dial on loopback).
/// </summary>
internal sealed class InProcessWorker : IAsyncDisposable
{
    private readonly WebApplication application;
    private readonly TestServer server;

    private InProcessWorker(WebApplication application, WorkerRuntime runtime, WorkerEndpoint endpoint)
    {
        this.application = application;
        Runtime = runtime;
        Endpoint = endpoint;
        server = application.GetTestServer();
        Channel = OpenChannel(token: runtime.Options.Token);
        Client = new LlamaWorker.LlamaWorkerClient(Channel);
    }

    public WorkerRuntime Runtime { get; }

    /// <summary>The host's lifetime: ApplicationStopping fires when the worker is asked to shut down.</summary>
    public Microsoft.Extensions.Hosting.IHostApplicationLifetime Lifetime => application.Lifetime;

    public WorkerEndpoint Endpoint { get; }

    public string CacheDirectory => Runtime.Options.CacheDirectory;

    /// <summary>The test's own channel (limits as every LlamaDist peer sets them, the worker's token when it has one).</summary>
    public GrpcChannel Channel { get; }

    public LlamaWorker.LlamaWorkerClient Client { get; }

    public static async Task<InProcessWorker> StartAsync(string name = "worker-a", WorkerOptions? options = null)
    {
        var cache = Path.Combine(Path.GetTempPath(), $"llamadist-wtest-{Guid.NewGuid():N}");
        options = (options ?? new WorkerOptions()) with { Threads = 1, Name = name, CacheDirectory = cache, Quiet = true, Port = 0 };
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "LlamaDist.Worker" });
        builder.Logging.ClearProviders();
        builder.WebHost.UseTestServer();
        var runtime = new WorkerRuntime(options);
        // Tensor-parallel shards link over real sockets: on loopback, dialled through Route's mapping.
        runtime.Shards.StartPeerListener(System.Net.IPAddress.Loopback, 0, null);
        var application = WorkerHost.Build(builder, runtime);
        await application.StartAsync();
        return new InProcessWorker(application, runtime, new WorkerEndpoint(name, WorkerEndpoint.DefaultPort));
    }

    /// <summary>
    /// A new channel to this worker. <paramref name="unlimitedSend"/> lifts the client's own send limit so a
    /// too-large message reaches the worker and the worker's limit is what refuses it; <paramref name="token"/>
    /// goes with every call as the cluster token.
    /// </summary>
    public GrpcChannel OpenChannel(bool unlimitedSend = false, string? token = null) =>
        GrpcChannel.ForAddress(server.BaseAddress, new GrpcChannelOptions
        {
            HttpHandler = token is null ? server.CreateHandler() : new BearerTokenHandler(token, server.CreateHandler()),
            MaxReceiveMessageSize = WorkerChannels.MaxMessageBytes,
            MaxSendMessageSize = unlimitedSend ? null : WorkerChannels.MaxMessageBytes,
            ThrowOperationCanceledOnCancellation = true,
        });

    /// <summary>A coordinator's client for this worker (handshake done), over an in-memory channel.</summary>
    public Task<WorkerClient> ConnectAsync(string? token = null) =>
        WorkerClient.ConnectAsync(Endpoint, OpenChannel(token: token), new WorkerCredentials { Token = token }, "tests", CancellationToken.None);

    /// <summary>Lets each of <paramref name="workers"/> open its next-stage channel to any of the others by endpoint.</summary>
    public static void Route(params InProcessWorker[] workers)
    {
        foreach (var worker in workers)
        {
            worker.Runtime.OpenPeerChannel = (endpoint, credentials) =>
                workers.Single(w => w.Endpoint.ToString() == endpoint.ToString()).OpenChannel(token: credentials.Token);
            worker.Runtime.PeerLinkAddress = address => address with { Host = "127.0.0.1" };
        }
    }

    public async Task<WorkerStatus> StatusAsync() => await Client.GetStatusAsync(new GetStatusRequest());

    /// <summary>Polls GetStatus until <paramref name="condition"/> holds, at most <paramref name="limit"/>; returns the last status.</summary>
    public async Task<WorkerStatus> WaitForStatusAsync(Func<WorkerStatus, bool> condition, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var status = await StatusAsync();
            if (condition(status) || DateTime.UtcNow > deadline)
            {
                return status;
            }
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            try
            {
                await application.StopAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
        await application.DisposeAsync();
        Runtime.Dispose();
        try
        {
            Directory.Delete(CacheDirectory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
