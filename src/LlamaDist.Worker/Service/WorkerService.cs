using Grpc.Core;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Worker.State;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LlamaDist.Worker.Service;

/// <summary>
/// The llamadist.v1 LlamaWorker service: a thin translation from gRPC calls to <see cref="WorkerRuntime"/>.
/// Long work (hashing, loading) runs off the request thread; every failure leaves as an RpcException with a
/// status and a reason trailer. Every request field is checked (<see cref="WorkerInput"/>) before it is used;
/// malformed messages are refused before they get here (<see cref="HardenedServiceBinding"/>).
/// </summary>
[BindServiceMethod(typeof(HardenedServiceBinding), nameof(HardenedServiceBinding.BindService))]
internal sealed class WorkerService : LlamaWorker.LlamaWorkerBase
{
    private readonly WorkerRuntime runtime;
    private readonly ILogger<WorkerService> logger;
    private readonly IHostApplicationLifetime lifetime;

    public WorkerService(WorkerRuntime runtime, ILogger<WorkerService> logger, IHostApplicationLifetime lifetime)
    {
        this.runtime = runtime;
        this.logger = logger;
        this.lifetime = lifetime;
    }

    public override Task<HandshakeReply> Handshake(HandshakeRequest request, ServerCallContext context)
    {
        if (request.Protocol is null || !WireProtocol.IsCompatible(request.Protocol))
        {
            var version = request.Protocol is null ? "none" : $"{request.Protocol.Major}.{request.Protocol.Minor}";
            throw WorkerErrors.Create(StatusCode.FailedPrecondition, Distributed.Client.WorkerFailure.ProtocolMismatch,
                $"This worker speaks protocol {WireProtocol.Major}.{WireProtocol.Minor}; the caller speaks {version}. Use the same LlamaDist major version on both.");
        }
        logger.LogInformation("Handshake from {Client} at {Peer}", WorkerInput.Quote(request.ClientName), context.Peer);
        return Task.FromResult(runtime.Handshake(request));
    }

    public override Task<WorkerStatus> GetStatus(GetStatusRequest request, ServerCallContext context) =>
        Task.FromResult(runtime.Status());

    public override Task<LoadRangeReply> LoadRange(LoadRangeRequest request, ServerCallContext context) =>
        Task.Run(() =>
        {
            var reply = runtime.LoadRange(request, context.CancellationToken);
            logger.LogInformation("LoadRange {Layers} of {File}: {State} ({Message})", request.Layers, WorkerInput.Quote(request.Model?.FileName),
                reply.State, reply.Message);
            return reply;
        });

    public override Task<StreamWeightsReply> StreamWeights(IAsyncStreamReader<WeightChunk> requestStream, ServerCallContext context) =>
        new WeightReceiver(runtime).ReceiveAsync(requestStream, context.CancellationToken);

    public override Task<ReleaseRangeReply> ReleaseRange(ReleaseRangeRequest request, ServerCallContext context) =>
        Task.FromResult(runtime.ReleaseRange(WorkerInput.RangeHash(request.RangeHash), request.OwnerId));

    public override async Task<OpenSessionReply> OpenSession(OpenSessionRequest request, ServerCallContext context)
    {
        await runtime.VerifyNextStageAsync(request, context.CancellationToken).ConfigureAwait(false);
        var reply = runtime.OpenSession(request);
        if (context.CancellationToken.IsCancellationRequested)
        {
            // The caller gave up (cancelled, or its deadline passed) and will never use or close this session:
            // the CloseSession it sent may even have been handled first. Nothing may outlive the call.
            runtime.CloseSession(request.SessionId);
            throw new RpcException(new Status(StatusCode.Cancelled, "OpenSession was cancelled by the caller."));
        }
        return reply;
    }

    public override Task<CloseSessionReply> CloseSession(CloseSessionRequest request, ServerCallContext context) =>
        Task.FromResult(new CloseSessionReply { Closed = runtime.CloseSession(WorkerInput.SessionId(request.SessionId), request.OwnerId) });

    public override Task<RenewLeaseReply> RenewLease(RenewLeaseRequest request, ServerCallContext context) =>
        Task.FromResult(runtime.RenewLease(request.OwnerId));

    public override Task Forward(IAsyncStreamReader<ForwardRequest> requestStream, IServerStreamWriter<ForwardReply> responseStream,
        ServerCallContext context) =>
        new ForwardStream(runtime, requestStream, responseStream, context).RunAsync();

    public override Task<LoadShardReply> LoadShard(LoadShardRequest request, ServerCallContext context) =>
        Task.Run(() =>
        {
            var reply = runtime.Shards.LoadShard(request, context.CancellationToken);
            logger.LogInformation("LoadShard {Shard} of {File}: {Message}", request.Shard, WorkerInput.Quote(request.Model?.FileName), reply.Message);
            return reply;
        });

    public override Task<ReleaseShardReply> ReleaseShard(ReleaseShardRequest request, ServerCallContext context) =>
        Task.FromResult(runtime.Shards.ReleaseShard(request));

    public override Task<OpenShardSessionReply> OpenShardSession(OpenShardSessionRequest request, ServerCallContext context) =>
        runtime.Shards.OpenSessionAsync(request, context.CancellationToken);

    public override Task<CloseSessionReply> CloseShardSession(CloseSessionRequest request, ServerCallContext context) =>
        Task.FromResult(new CloseSessionReply { Closed = runtime.Shards.CloseSession(WorkerInput.SessionId(request.SessionId), request.OwnerId) });

    public override Task ShardStep(IAsyncStreamReader<ShardStepRequest> requestStream, IServerStreamWriter<ShardStepReply> responseStream,
        ServerCallContext context) =>
        ShardStreams.RunStepsAsync(runtime, requestStream, responseStream, context);

    public override Task<LinkProbeReply> MeasureLink(LinkProbe request, ServerCallContext context) =>
        runtime.LinkProbe.AnswerAsync(request, context.CancellationToken);

    public override Task EchoLink(IAsyncStreamReader<LinkEcho> requestStream, IServerStreamWriter<LinkEcho> responseStream,
        ServerCallContext context) =>
        LinkProbeResponder.EchoAsync(requestStream, responseStream, context.CancellationToken);

    public override Task<ShutdownReply> Shutdown(ShutdownRequest request, ServerCallContext context)
    {
        var reason = request.Reason.Length > 100 ? request.Reason[..100] : request.Reason;
        logger.LogWarning("Shutdown requested by {Peer} ({Reason})", context.Peer, reason);
        var reply = new ShutdownReply { ProcessId = (uint)Environment.ProcessId, OpenSessions = (uint)runtime.SessionCount };
        // Stopped a moment after answering: the host's graceful stop waits for running calls, this one included,
        // and the caller should get its reply before the connection closes.
        _ = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
            lifetime.StopApplication();
        });
        return Task.FromResult(reply);
    }
}
