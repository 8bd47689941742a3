using Grpc.Core;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Grpc.Net.Client;

namespace LlamaDist.Distributed.Tests.Worker;

[Collection(WorkerCollection.Name)]
public sealed class HandshakeTests
{
    [Fact]
    public async Task SameMajor_RepliesWithIdentityProtocolAndCapabilities()
    {
        await using var worker = await InProcessWorker.StartAsync("worker-a");
        var reply = await worker.Client.HandshakeAsync(new HandshakeRequest
        {
            Protocol = new ProtocolVersion { Major = WireProtocol.Major, Minor = WireProtocol.Minor + 5 },  // a newer minor is fine
            ClientName = "tests",
        });

        Assert.Equal("worker-a", reply.Worker.HostName);
        Assert.Equal(32, reply.Worker.WorkerId.Length);
        Assert.False(string.IsNullOrEmpty(reply.Worker.SoftwareVersion));
        Assert.Equal(WireProtocol.Major, reply.Protocol.Major);
        Assert.Equal(WireProtocol.Minor, reply.Protocol.Minor);
        Assert.Equal(ComputeBackend.Cpu, reply.Capabilities.Backend);
        Assert.Equal(1u, reply.Capabilities.Threads);
        Assert.True(reply.Capabilities.TotalMemoryBytes > 0);
        Assert.True(reply.Capabilities.FreeMemoryBytes > 0);
        Assert.True(reply.Capabilities.BytesPerSecond > 0);
        Assert.Contains(ActivationEncoding.F16, reply.Capabilities.ActivationEncodings);
        Assert.Contains(ActivationEncoding.F32, reply.Capabilities.ActivationEncodings);

        // The status names the same worker.
        Assert.Equal(reply.Worker.WorkerId, (await worker.StatusAsync()).Worker.WorkerId);
    }

    [Theory]
    [InlineData(2u)]
    [InlineData(0u)]
    public async Task OtherMajor_IsRefusedAsProtocolMismatchNamingBothVersions(uint major)
    {
        await using var worker = await InProcessWorker.StartAsync();
        var error = await Assert.ThrowsAsync<RpcException>(async () => await worker.Client.HandshakeAsync(new HandshakeRequest
        {
            Protocol = new ProtocolVersion { Major = major, Minor = 3 },
        }));

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Equal(nameof(WorkerFailure.ProtocolMismatch), error.Trailers.GetValue(WorkerCallException.FailureTrailer));
        Assert.Contains($"{WireProtocol.Major}.{WireProtocol.Minor}", error.Status.Detail);
        Assert.Contains($"{major}.3", error.Status.Detail);
    }

    [Fact]
    public async Task MissingProtocol_IsRefusedAsProtocolMismatch()
    {
        await using var worker = await InProcessWorker.StartAsync();
        var error = await Assert.ThrowsAsync<RpcException>(async () => await worker.Client.HandshakeAsync(new HandshakeRequest()));
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Equal(nameof(WorkerFailure.ProtocolMismatch), error.Trailers.GetValue(WorkerCallException.FailureTrailer));
    }

    [Fact]
    public async Task Client_ConnectsToTheWorker()
    {
        await using var worker = await InProcessWorker.StartAsync("worker-a");
        using var client = await worker.ConnectAsync();
        Assert.Equal(worker.Runtime.Identity.WorkerId, client.WorkerId);
        Assert.Equal(worker.Endpoint, client.Endpoint);
    }

    [Fact]
    public async Task Client_RefusesAWorkerThatAnswersWithAnotherMajor()
    {
        await using var fake = await FakeWorker.StartAsync(new FakeWorker.Behaviour { ReplyMajor = WireProtocol.Major + 1 });
        var endpoint = new WorkerEndpoint("future-worker", 50052);
        var error = await Assert.ThrowsAsync<WorkerCallException>(() =>
            WorkerClient.ConnectAsync(endpoint, fake.OpenChannel(), "tests", CancellationToken.None));

        Assert.Equal(WorkerFailure.ProtocolMismatch, error.Failure);
        Assert.Equal("future-worker:50052", error.Endpoint);
        Assert.Contains($"{WireProtocol.Major + 1}.0", error.Message);
        Assert.Contains($"{WireProtocol.Major}.{WireProtocol.Minor}", error.Message);
    }

    [Fact]
    public async Task Client_TurnsAWorkersRefusalIntoProtocolMismatch()
    {
        // What an older or newer worker answers a coordinator of another major: the status with the trailer.
        await using var fake = await FakeWorker.StartAsync(new FakeWorker.Behaviour { Refuse = true });
        var error = await Assert.ThrowsAsync<WorkerCallException>(() =>
            WorkerClient.ConnectAsync(new WorkerEndpoint("old-worker", 50052), fake.OpenChannel(), "tests", CancellationToken.None));

        Assert.Equal(WorkerFailure.ProtocolMismatch, error.Failure);
        Assert.Contains("old-worker:50052", error.Message);
        Assert.Contains("speaks protocol 0.9", error.Message);
    }

    /// <summary>A worker of another version: only Handshake, answering as told.</summary>
    private sealed class FakeWorker : LlamaWorker.LlamaWorkerBase
    {
        private readonly Behaviour behaviour;

        public FakeWorker(Behaviour behaviour) => this.behaviour = behaviour;

        public sealed class Behaviour
        {
            public uint ReplyMajor { get; init; } = WireProtocol.Major;

            public bool Refuse { get; init; }
        }

        public override Task<HandshakeReply> Handshake(HandshakeRequest request, ServerCallContext context)
        {
            if (behaviour.Refuse)
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition, "This worker speaks protocol 0.9; the caller speaks 1.0."),
                    new Metadata { { WorkerCallException.FailureTrailer, nameof(WorkerFailure.ProtocolMismatch) } });
            }
            return Task.FromResult(new HandshakeReply
            {
                Worker = new WorkerIdentity { WorkerId = "fake", HostName = "fake", SoftwareVersion = "9.0.0" },
                Protocol = new ProtocolVersion { Major = behaviour.ReplyMajor, Minor = 0 },
                Capabilities = new WorkerCapabilities(),
            });
        }

        public static async Task<Host> StartAsync(Behaviour behaviour)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseTestServer();
            builder.Services.AddGrpc();
            builder.Services.AddSingleton(behaviour);
            var application = builder.Build();
            application.MapGrpcService<FakeWorker>();
            await application.StartAsync();
            return new Host(application);
        }

        public sealed class Host(WebApplication application) : IAsyncDisposable
        {
            public GrpcChannel OpenChannel() => GrpcChannel.ForAddress(application.GetTestServer().BaseAddress,
                new GrpcChannelOptions { HttpHandler = application.GetTestServer().CreateHandler() });

            public ValueTask DisposeAsync() => application.DisposeAsync();
        }
    }
}
