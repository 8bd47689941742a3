using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using LlamaDist.Core.Gguf;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Security;

namespace LlamaDist.Distributed.Client;

/// <summary>
/// The coordinator's connection to one worker: a channel, the handshake's answer, and the control calls
/// (status, ranges, weights, sessions), each translating gRPC failures into <see cref="WorkerCallException"/>
/// naming the endpoint. Evaluation streams are opened by the ring (see Ring/).
/// </summary>
public sealed class WorkerClient : IDisposable
{
    /// <summary>Data bytes per WeightChunk: 1 MiB, as the contract allows.</summary>
    public const int WeightChunkBytes = 1 << 20;

    /// <summary>How long a handshake may take unless the caller says otherwise: it does no work on the worker.</summary>
    public static readonly TimeSpan DefaultHandshakeTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Deadlines of the control calls: bookkeeping only (status, sessions, leases, release, shutdown).</summary>
    public static readonly TimeSpan ControlTimeout = TimeSpan.FromSeconds(30);

    /// <summary>LoadRange may hash and read a large range from the worker's disk.</summary>
    public static readonly TimeSpan LoadTimeout = TimeSpan.FromMinutes(30);

    /// <summary>A weight stream sends a whole range: bounded, but generously (a slow link, a large range).</summary>
    public static readonly TimeSpan StreamTimeout = TimeSpan.FromHours(2);

    private readonly GrpcChannel channel;

    private WorkerClient(WorkerEndpoint endpoint, GrpcChannel channel, HandshakeReply handshake, WorkerCredentials credentials)
    {
        Endpoint = endpoint;
        this.channel = channel;
        Calls = new LlamaWorker.LlamaWorkerClient(channel);
        Handshake = handshake;
        Credentials = credentials;
    }

    public WorkerEndpoint Endpoint { get; }

    /// <summary>What this client presents and trusts; the ring hands the thumbprints on to the stage before it.</summary>
    public WorkerCredentials Credentials { get; }

    public HandshakeReply Handshake { get; }

    public LlamaWorker.LlamaWorkerClient Calls { get; }

    public string WorkerId => Handshake.Worker.WorkerId;

    /// <summary>
    /// Who owns what this client loads and opens on the worker (owner_id of LoadRange, ReleaseRange,
    /// OpenSession, CloseSession, RenewLease): fresh per client, so ranges and sessions die with their lease when
    /// this coordinator stops renewing (see <see cref="LeaseKeeper"/>), and no other client can free them.
    /// </summary>
    public string OwnerId { get; } = Guid.NewGuid().ToString("N");

    /// <summary>Connects and performs the handshake; a different protocol major is refused here.</summary>
    public static Task<WorkerClient> ConnectAsync(WorkerEndpoint endpoint, string clientName, CancellationToken cancellationToken) =>
        ConnectAsync(endpoint, WorkerCredentials.None, clientName, cancellationToken);

    /// <summary>
    /// Connects with <paramref name="credentials"/> and performs the handshake: a different protocol major is
    /// refused, and with a token the worker must prove it holds the same one (an impostor at the address is refused).
    /// </summary>
    public static async Task<WorkerClient> ConnectAsync(WorkerEndpoint endpoint, WorkerCredentials credentials, string clientName,
        CancellationToken cancellationToken, TimeSpan? handshakeTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(credentials);
        return await ConnectAsync(endpoint, WorkerChannels.Open(endpoint, credentials), credentials, clientName, cancellationToken, handshakeTimeout).ConfigureAwait(false);
    }

    /// <summary>
    /// Handshakes over a channel the caller opened (tests: an in-memory server); the client owns it from here
    /// and disposes it, also when the handshake fails.
    /// </summary>
    internal static Task<WorkerClient> ConnectAsync(WorkerEndpoint endpoint, GrpcChannel channel, string clientName, CancellationToken cancellationToken) =>
        ConnectAsync(endpoint, channel, WorkerCredentials.None, clientName, cancellationToken);

    internal static async Task<WorkerClient> ConnectAsync(WorkerEndpoint endpoint, GrpcChannel channel, WorkerCredentials credentials,
        string clientName, CancellationToken cancellationToken, TimeSpan? handshakeTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(channel);
        try
        {
            var calls = new LlamaWorker.LlamaWorkerClient(channel);
            var reply = await HandshakeAsync(endpoint, calls, credentials.Token, clientName, cancellationToken, handshakeTimeout).ConfigureAwait(false);
            if (!WireProtocol.IsCompatible(reply.Protocol))
            {
                throw new WorkerCallException(endpoint.ToString(), WorkerFailure.ProtocolMismatch,
                    $"Worker {endpoint} speaks protocol {reply.Protocol.Major}.{reply.Protocol.Minor}; this coordinator speaks {WireProtocol.Major}.{WireProtocol.Minor}. Use the same LlamaDist major version on both.");
            }
            return new WorkerClient(endpoint, channel, reply, credentials) { HealthCalls = new Health.HealthClient(channel) };
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    /// <summary>The standard grpc.health.v1 service of the worker.</summary>
    private Health.HealthClient HealthCalls { get; init; } = null!;

    /// <summary>
    /// Asks the worker's grpc.health.v1 service whether it serves, within <paramref name="limit"/>: true for SERVING,
    /// false for any other answer (shutting down); a worker that does not answer in time, refuses the connection
    /// or resets it fails with <see cref="WorkerCallException"/> saying so in plain words.
    /// </summary>
    public async Task<bool> CheckHealthAsync(TimeSpan limit, CancellationToken cancellationToken)
    {
        var reply = await InvokeWithin(Endpoint, limit, "a health check",
            token => HealthCalls.CheckAsync(new HealthCheckRequest(), cancellationToken: token).ResponseAsync, cancellationToken).ConfigureAwait(false);
        return reply.Status == HealthCheckResponse.Types.ServingStatus.Serving;
    }

    public Task<WorkerStatus> GetStatusAsync(CancellationToken cancellationToken) =>
        InvokeWithin(Endpoint, ControlTimeout, "GetStatus", token => Calls.GetStatusAsync(new GetStatusRequest(), cancellationToken: token).ResponseAsync, cancellationToken);

    /// <summary>Asks the worker to stop gracefully; it answers first, then stops (see the Shutdown RPC).</summary>
    public Task<ShutdownReply> ShutdownAsync(string reason, CancellationToken cancellationToken) =>
        InvokeWithin(Endpoint, ControlTimeout, "Shutdown", token => Calls.ShutdownAsync(new ShutdownRequest { Reason = reason }, cancellationToken: token).ResponseAsync, cancellationToken);

    /// <summary>LoadRange as this client's owner (an owner_id already set is kept).</summary>
    public Task<LoadRangeReply> LoadRangeAsync(LoadRangeRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.OwnerId.Length == 0)
        {
            request.OwnerId = OwnerId;
        }
        return InvokeWithin(Endpoint, LoadTimeout, "LoadRange", token => Calls.LoadRangeAsync(request, cancellationToken: token).ResponseAsync, cancellationToken);
    }

    public Task<ReleaseRangeReply> ReleaseRangeAsync(string rangeHash, CancellationToken cancellationToken) =>
        InvokeWithin(Endpoint, ControlTimeout, "ReleaseRange", token => Calls.ReleaseRangeAsync(new ReleaseRangeRequest { RangeHash = rangeHash, OwnerId = OwnerId },
            cancellationToken: token).ResponseAsync, cancellationToken);

    /// <summary>OpenSession as this client's owner (an owner_id already set is kept).</summary>
    public Task<OpenSessionReply> OpenSessionAsync(OpenSessionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.OwnerId.Length == 0)
        {
            request.OwnerId = OwnerId;
        }
        return InvokeWithin(Endpoint, ControlTimeout, "OpenSession", token => Calls.OpenSessionAsync(request, cancellationToken: token).ResponseAsync, cancellationToken);
    }

    public Task<CloseSessionReply> CloseSessionAsync(string sessionId, CancellationToken cancellationToken) =>
        InvokeWithin(Endpoint, ControlTimeout, "CloseSession", token => Calls.CloseSessionAsync(new CloseSessionRequest { SessionId = sessionId, OwnerId = OwnerId },
            cancellationToken: token).ResponseAsync, cancellationToken);

    /// <summary>Renews this owner's lease on the worker; the reply gives the lease to renew within.</summary>
    public Task<RenewLeaseReply> RenewLeaseAsync(CancellationToken cancellationToken) =>
        InvokeWithin(Endpoint, ControlTimeout, "RenewLease", token => Calls.RenewLeaseAsync(new RenewLeaseRequest { OwnerId = OwnerId }, cancellationToken: token).ResponseAsync, cancellationToken);

    /// <summary>
    /// Sends exactly <paramref name="tensors"/> of <paramref name="file"/> in file order, in chunks of
    /// <see cref="WeightChunkBytes"/>, reporting bytes sent so far; the worker verifies the hash at the end.
    /// </summary>
    public async Task<StreamWeightsReply> StreamWeightsAsync(GgufFile file, IReadOnlyList<GgufTensorInfo> tensors, string rangeHash,
        IProgress<long>? bytesSent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(tensors);
        var caller = cancellationToken;
        return await InvokeWithin(Endpoint, StreamTimeout, "the weight stream", async cancellationToken =>
        {
            using var call = Calls.StreamWeights(cancellationToken: cancellationToken);
            long sent = 0;
            foreach (var tensor in tensors)
            {
                for (long offset = 0; offset == 0 || offset < tensor.ByteSize; offset += WeightChunkBytes)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    int length = (int)Math.Min(WeightChunkBytes, tensor.ByteSize - offset);
                    var chunk = new WeightChunk
                    {
                        RangeHash = rangeHash,
                        TensorName = tensor.Name,
                        Offset = (ulong)offset,
                        Data = ByteString.CopyFrom(file.GetTensorBytes(tensor).Slice((int)Math.Min(offset, int.MaxValue), length)),
                    };
                    if (offset == 0)
                    {
                        chunk.Tensor = new TensorDescriptor { GgmlType = (uint)tensor.Type, ByteSize = (ulong)tensor.ByteSize };
                        chunk.Tensor.Dimensions.AddRange(tensor.Dimensions.Select(d => (ulong)d));
                    }
                    await call.RequestStream.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
                    sent += length;
                    bytesSent?.Report(sent);
                    if (tensor.ByteSize == 0)
                    {
                        break;
                    }
                }
            }
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            return await call.ResponseAsync.ConfigureAwait(false);
        }, caller).ConfigureAwait(false);
    }

    /// <summary>
    /// The handshake call. With a <paramref name="token"/> it carries a fresh challenge, and the reply must prove
    /// the worker holds the same token: a worker that answers without the proof (an impostor, or one started
    /// without a token) is refused with <see cref="WorkerFailure.AuthenticationFailed"/>. Workers use this for
    /// their next stage too.
    /// </summary>
    public static async Task<HandshakeReply> HandshakeAsync(WorkerEndpoint endpoint, LlamaWorker.LlamaWorkerClient calls, string? token,
        string clientName, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(calls);
        var request = new HandshakeRequest { Protocol = WireProtocol.Current, ClientName = clientName };
        byte[]? challenge = null;
        if (token is not null)
        {
            challenge = ClusterToken.NewChallenge();
            request.Challenge = ByteString.CopyFrom(challenge);
        }
        // A listener that accepts connections but never answers (a frozen process, something else on the port)
        // ends here as a plain deadline error naming the endpoint.
        var reply = await InvokeWithin(endpoint, timeout ?? DefaultHandshakeTimeout, "the handshake",
            callToken => calls.HandshakeAsync(request, cancellationToken: callToken).ResponseAsync, cancellationToken).ConfigureAwait(false);
        if (token is not null && !ClusterToken.VerifyProof(token, challenge, reply.ChallengeResponse.Span))
        {
            throw new WorkerCallException(endpoint.ToString(), WorkerFailure.AuthenticationFailed,
                $"Worker {endpoint} did not prove it holds the cluster token: it runs without one or with another. Start it with the same token.");
        }
        return reply;
    }

    /// <summary>
    /// Runs one call with a deadline: the token the call gets is cancelled by the caller's or at
    /// <paramref name="limit"/>. The caller's cancellation stays an OperationCanceledException; the deadline
    /// becomes <see cref="WorkerCallException"/> (Unreachable) saying "no answer within …" for
    /// <paramref name="what"/>, never a bare "The operation was canceled.".
    /// </summary>
    public static async Task<T> InvokeWithin<T>(WorkerEndpoint endpoint, TimeSpan limit, string what, Func<CancellationToken, Task<T>> call,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(call);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(limit);
        try
        {
            return await Invoke(endpoint, () => call(deadline.Token)).ConfigureAwait(false);
        }
        catch (OperationCanceledException exception) when (!cancellationToken.IsCancellationRequested)
        {
            throw new WorkerCallException(endpoint.ToString(), WorkerFailure.Unreachable,
                $"Worker {endpoint} is unreachable: {what} had {FailureDescription.Deadline(limit)}.", exception) { DeadlineExceeded = true };
        }
        catch (WorkerCallException exception) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested
            && exception.Failure == WorkerFailure.Unreachable)
        {
            throw new WorkerCallException(endpoint.ToString(), WorkerFailure.Unreachable,
                $"Worker {endpoint} is unreachable: {what} had {FailureDescription.Deadline(limit)}.", exception) { DeadlineExceeded = true };
        }
    }

    /// <summary>Runs one call, turning gRPC failures into <see cref="WorkerCallException"/> naming this worker.</summary>
    public static async Task<T> Invoke<T>(WorkerEndpoint endpoint, Func<Task<T>> call)
    {
        ArgumentNullException.ThrowIfNull(call);
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (RpcException exception)
        {
            throw WorkerCallException.FromRpc(endpoint.ToString(), exception);
        }
        catch (HttpRequestException exception) when (WorkerCallException.IsCertificateFailure(exception))
        {
            throw new WorkerCallException(endpoint.ToString(), WorkerFailure.CertificateRejected, WorkerCallException.CertificateMessage(endpoint.ToString()), exception);
        }
        catch (HttpRequestException exception)
        {
            throw new WorkerCallException(endpoint.ToString(), WorkerFailure.Unreachable,
                $"Worker {endpoint} is unreachable: {FailureDescription.Observe(exception) ?? exception.Message}", exception);
        }
    }

    public void Dispose() => channel.Dispose();
}
