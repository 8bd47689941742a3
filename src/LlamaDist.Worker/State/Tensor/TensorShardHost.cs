using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Model.Tensor;
using LlamaDist.Distributed.Activations;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Security;
using LlamaDist.Distributed.Tensor;
using LlamaDist.Distributed.Weights;

namespace LlamaDist.Worker.State.Tensor;

/// <summary>
/// The worker's tensor-parallel side: shards loaded from the worker's own copy of the model, their sessions, and
/// the partial sums exchanged with peer shards. Shards and sessions belong to owners and are leased like ranges
/// (<see cref="ExpireOwner"/>); idle sessions are collected (<see cref="CollectIdle"/>). Every request field is
/// checked before use; bookkeeping is under one lock, evaluation under each session's own.
/// </summary>
internal sealed class TensorShardHost : IDisposable
{
    private readonly WorkerRuntime runtime;
    private readonly object bookkeeping = new();
    private readonly Dictionary<string, HostedShard> shards = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ShardSession> sessions = new(StringComparer.Ordinal);

    public TensorShardHost(WorkerRuntime runtime)
    {
        this.runtime = runtime;
    }

    /// <summary>Bytes held by shards' slices and their sessions' KV caches.</summary>
    public long UsedMemoryBytes
    {
        get
        {
            lock (bookkeeping)
            {
                return shards.Values.Sum(shard => shard.Bytes) + sessions.Values.Sum(session => session.KvCacheBytes);
            }
        }
    }

    public int SessionCount
    {
        get
        {
            lock (bookkeeping)
            {
                return sessions.Count;
            }
        }
    }

    // ---- peer links ------------------------------------------------------------------------------------------

    private PeerListener? peerListener;

    /// <summary>
    /// Opens the port shards of this worker's sessions are linked on (<see cref="PeerListener"/>), on the
    /// worker's address; a port in use is a <see cref="System.Net.Sockets.SocketException"/>.
    /// </summary>
    public void StartPeerListener(System.Net.IPAddress address, int port, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate)
    {
        peerListener = PeerListener.Start(address, port, certificate, id => FindSession(id)?.Reduction);
    }

    /// <summary>The bound peer port, told to coordinators in LoadShard replies; 0 before <see cref="StartPeerListener"/>.</summary>
    public int PeerPort => peerListener?.Port ?? 0;

    /// <summary>Handshakes under way on the peer port.</summary>
    public int PendingPeerHandshakes => peerListener?.PendingHandshakes ?? 0;

    /// <summary>Connections the peer port closed unanswered (malformed, unauthenticated or over the limit).</summary>
    public long RefusedPeerLinks => peerListener?.Refused ?? 0;

    // ---- shards ----------------------------------------------------------------------------------------------

    public LoadShardReply LoadShard(LoadShardRequest request, CancellationToken cancellationToken)
    {
        string owner = runtime.Owner(request.OwnerId);
        string modelHash = WorkerInput.RangeHash(request.Model?.RangeHash, "model.range_hash");
        WorkerInput.Length(request.Model!.FileName, 260, "model.file_name");
        WorkerInput.Length(request.WorkerPath, 4096, "worker_path");
        LlamaConfig config;
        TensorSlice slice;
        LayerRange range;
        try
        {
            config = ProtocolMapping.ToConfig(request.Config ?? throw new ArgumentException("config is missing."));
            slice = ShardMapping.ToSlice(request.Shard ?? throw new ArgumentException("shard is missing."), config);
            range = ShardMapping.ToRange(request.Shard, config);
            TensorShardWeights.ShardConfigOf(config, slice);
        }
        catch (Exception exception) when (exception is ArgumentException or OverflowException or TensorSplitException)
        {
            throw WorkerErrors.Invalid($"LoadShard: {exception.Message}");
        }
        string id = ShardId(modelHash, request.Shard);
        lock (bookkeeping)
        {
            if (shards.TryGetValue(id, out var loaded))
            {
                loaded.Holders.Add(owner);
                return new LoadShardReply { ShardId = id, SliceBytes = (ulong)loaded.Bytes, Message = "already loaded", PeerPort = (uint)PeerPort };
            }
        }

        string fileName = Path.GetFileName(request.Model.FileName ?? "");
        var mismatches = new List<string>();
        foreach (var candidate in runtime.ModelFiles.Candidates(request.WorkerPath, fileName))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var shard = TryOpen(candidate, id, modelHash, config, slice, range, mismatches, cancellationToken);
            if (shard is null)
            {
                continue;
            }
            lock (bookkeeping)
            {
                if (shards.TryGetValue(id, out var existing))
                {
                    existing.Holders.Add(owner);
                    shard.Dispose();
                    return new LoadShardReply { ShardId = id, SliceBytes = (ulong)existing.Bytes, Message = "already loaded", PeerPort = (uint)PeerPort };
                }
                shard.Holders.Add(owner);
                shards[id] = shard;
            }
            return new LoadShardReply { ShardId = id, SliceBytes = (ulong)shard.Bytes, Message = $"loaded from {shard.Source}", PeerPort = (uint)PeerPort };
        }
        if (mismatches.Count > 0)
        {
            throw WorkerErrors.ModelMismatch(
                $"The worker's copy of the model differs from the coordinator's: {string.Join("; ", mismatches)}. Give both the same GGUF file.");
        }
        throw WorkerErrors.Precondition(
            $"The worker has no copy of model {modelHash[..12]} ({WorkerInput.Quote(fileName)}); a tensor-parallel shard is read from the worker's own GGUF " +
            "(start the worker with -ModelPath, or use a layer split, which can send the weights).");
    }

    private HostedShard? TryOpen(ModelFileLocator.Candidate candidate, string id, string modelHash, LlamaConfig config, TensorSlice slice,
        LayerRange range, List<string> mismatches, CancellationToken cancellationToken)
    {
        if (!File.Exists(candidate.Path))
        {
            return null;
        }
        GgufFile file;
        try
        {
            file = GgufFile.Open(candidate.Path);
        }
        catch (Exception exception) when (exception is GgufFormatException or IOException or UnauthorizedAccessException)
        {
            if (candidate.Own)
            {
                mismatches.Add($"{WorkerInput.Quote(candidate.Path)} is not a readable GGUF");
            }
            return null;
        }
        try
        {
            var whole = LayerRange.All(config.LayerCount);
            string actual = runtime.HashRange(file, candidate.Path, config, whole, cancellationToken);
            if (!string.Equals(actual, modelHash, StringComparison.Ordinal))
            {
                if (candidate.Own)
                {
                    mismatches.Add($"{WorkerInput.Quote(candidate.Path)} hashes to {actual[..12]}, the coordinator's model to {modelHash[..12]}");
                }
                file.Dispose();
                return null;
            }
            runtime.EnsureFree(EstimateSliceBytes(file, slice) * range.Count / config.LayerCount, "The shard");
            var weights = TensorShardWeights.Load(file, config, slice, range);
            return new HostedShard(id, modelHash, file, config, weights, $"model file {candidate.Path}");
        }
        catch (TensorSplitException exception)
        {
            file.Dispose();
            throw WorkerErrors.Invalid($"LoadShard: {exception.Message}");
        }
        catch (Exception exception) when (exception is UnsupportedModelException or GgufFormatException or ArgumentException
            or KeyNotFoundException or IOException or UnauthorizedAccessException)
        {
            file.Dispose();
            if (candidate.Own)
            {
                mismatches.Add($"{WorkerInput.Quote(candidate.Path)} cannot run this shard: {WorkerInput.Quote(exception.Message)}");
            }
            return null;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>About what the slices take: the block matrices and head in proportion to the shard's share.</summary>
    private static long EstimateSliceBytes(GgufFile file, TensorSlice slice) =>
        file.Tensors.Where(tensor => tensor.Rows > 1 && tensor.Name != LlamaTensorNames.TokenEmbedding).Sum(tensor => tensor.ByteSize)
            / Math.Max(1, slice.ShardCount);

    public ReleaseShardReply ReleaseShard(ReleaseShardRequest request)
    {
        string owner = runtime.Owner(request.OwnerId);
        string id = WorkerInput.RangeHash(request.ShardId, "shard_id");
        var closed = new List<ShardSession>();
        HostedShard? freed = null;
        lock (bookkeeping)
        {
            if (!shards.TryGetValue(id, out var shard))
            {
                throw WorkerErrors.NotFound($"Shard {id[..12]} is not loaded here.");
            }
            if (!shard.Holders.Holds(owner))
            {
                throw WorkerErrors.Create(StatusCode.PermissionDenied, WorkerFailure.Rejected, $"Shard {id[..12]} is held by other coordinators only.");
            }
            shard.Holders.Release(owner);
            if (shard.Holders.IsEmpty)
            {
                freed = Unregister(shard, closed);
            }
        }
        long bytes = freed?.Bytes ?? 0;
        closed.ForEach(session => session.Dispose());
        freed?.Dispose();
        return new ReleaseShardReply { FreedBytes = (ulong)bytes, ClosedSessions = (uint)closed.Count };
    }

    private HostedShard Unregister(HostedShard shard, List<ShardSession> closed)
    {
        shards.Remove(shard.Id);
        foreach (var session in sessions.Values.Where(session => session.Shard == shard).ToList())
        {
            sessions.Remove(session.Id);
            closed.Add(session);
        }
        return shard;
    }

    /// <summary>SHA-256 over the model hash and the slice's fields (its layers included): the same model and slice give the same id everywhere.</summary>
    private static string ShardId(string modelHash, ShardSpec spec)
    {
        string text = $"{modelHash}|{spec.ShardIndex}/{spec.ShardCount}|{spec.KvHeadStart}+{spec.KvHeadCount}|{spec.FeedForwardStart}+{spec.FeedForwardCount}|{spec.VocabularyStart}+{spec.VocabularyCount}";
        if (spec.LayerStart != 0 || spec.LayerEndExclusive != 0)
        {
            text += $"|layers {spec.LayerStart}-{spec.LayerEndExclusive}";
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    // ---- sessions --------------------------------------------------------------------------------------------

    public async Task<OpenShardSessionReply> OpenSessionAsync(OpenShardSessionRequest request, CancellationToken cancellationToken)
    {
        string owner = runtime.Owner(request.OwnerId);
        string id = WorkerInput.SessionId(request.SessionId);
        string shardId = WorkerInput.RangeHash(request.ShardId, "shard_id");
        int contextSize = (int)WorkerInput.AtMost(request.ContextSize, runtime.Options.MaxContext, "context_size");
        int maxBatch = (int)WorkerInput.AtMost(request.MaxBatchTokens, runtime.Options.MaxStepTokens, "max_batch_tokens");
        if (contextSize == 0 || maxBatch == 0)
        {
            throw WorkerErrors.Invalid("context_size and max_batch_tokens must be positive.");
        }
        var encoding = request.Encoding == ReductionEncoding.Unspecified ? ReductionEncoding.F32 : request.Encoding;
        HostedShard shard;
        lock (bookkeeping)
        {
            shard = shards.TryGetValue(shardId, out var found) ? found : throw WorkerErrors.NotFound($"Shard {shardId[..12]} is not loaded here.");
            if (sessions.ContainsKey(id))
            {
                throw WorkerErrors.Create(StatusCode.AlreadyExists, WorkerFailure.Rejected, $"Session {WorkerInput.Quote(id)} is already open.");
            }
            if (sessions.Count + runtime.SessionCount >= runtime.Options.MaxSessions)
            {
                throw WorkerErrors.Create(StatusCode.ResourceExhausted, WorkerFailure.Rejected,
                    $"This worker holds its limit of {runtime.Options.MaxSessions} sessions; close some or try again later.");
            }
        }
        int shardCount = shard.Slice.ShardCount, self = shard.Slice.ShardIndex;
        if (request.Peers.Count != shardCount)
        {
            throw WorkerErrors.Invalid($"peers lists {request.Peers.Count} shards; the shard is one of {shardCount}.");
        }
        if (!Enum.IsDefined(encoding) || !PartialSumCodec.Supports(encoding, shard.Config.EmbeddingLength))
        {
            throw WorkerErrors.Invalid($"Partial sums of width {shard.Config.EmbeddingLength} cannot travel as {encoding}.");
        }
        var kvBytes = 2UL * (ulong)shard.Weights.Range.Count * (ulong)contextSize * (ulong)(shard.Slice.KvHeadCount * shard.Config.HeadDimension) * 2UL;
        runtime.EnsureFree((long)Math.Min(kvBytes, long.MaxValue), "The session's KV cache");

        if (shardCount > 1 && request.PeerSecret.Length != PeerWire.SecretBytes)
        {
            throw WorkerErrors.Invalid($"peer_secret must be {PeerWire.SecretBytes} bytes, not {request.PeerSecret.Length}.");
        }
        var addresses = new PeerAddress?[shardCount];
        for (int peer = 0; peer < shardCount; peer++)
        {
            if (peer == self)
            {
                continue;
            }
            var link = request.Peers[peer];
            WorkerInput.Length(link.Endpoint, 260, "peers.endpoint");
            if (!WorkerEndpoint.TryParse(link.Endpoint, out var endpoint, out var problem))
            {
                throw WorkerErrors.Invalid($"peers[{peer}]: {problem}");
            }
            if (link.PeerPort is 0 or > 65535)
            {
                throw WorkerErrors.Invalid($"peers[{peer}].peer_port {link.PeerPort} is not a port.");
            }
            // The peer must prove it holds this worker's token before this worker links to its host at all (as a
            // next stage must); the link itself then proves the session's secret.
            var pins = link.CertificateThumbprints.Take(16).ToArray();
            var probe = new OpenSessionRequest { NextEndpoint = link.Endpoint };
            probe.NextCertificateThumbprints.AddRange(pins);
            await runtime.VerifyNextStageAsync(probe, cancellationToken).ConfigureAwait(false);
            // Verified above, so the pins normalize.
            addresses[peer] = runtime.PeerLinkAddress(new PeerAddress(endpoint.Host, (int)link.PeerPort, endpoint.Tls,
                pins.Select(CertificatePins.Normalize).Distinct().ToArray()));
        }

        PeerReduction? reduction = null;
        LlamaSession? llamaSession = null;
        try
        {
            reduction = new PeerReduction(id, self, shard.Config.EmbeddingLength, maxBatch, encoding, request.PeerSecret.ToByteArray(), addresses)
            {
                FrameSent = runtime.CountSent,
                FrameReceived = runtime.CountReceived,
            };
            var forward = new TensorShardForward(shard.Weights, runtime.Threads, reduction);
            llamaSession = forward.CreateSession(contextSize, maxBatch);
            var session = new ShardSession(id, owner, shard, llamaSession, forward, reduction);
            lock (bookkeeping)
            {
                if (!shards.ContainsKey(shardId) || sessions.ContainsKey(id))
                {
                    throw WorkerErrors.Create(StatusCode.Aborted, WorkerFailure.Rejected, "The shard was released or the session opened meanwhile.");
                }
                sessions[id] = session;
            }
            return new OpenShardSessionReply { KvCacheBytes = (ulong)llamaSession.KvCacheBytes };
        }
        catch
        {
            reduction?.Dispose();
            llamaSession?.Dispose();
            throw;
        }
    }

    public bool CloseSession(string id, string ownerId)
    {
        string owner = runtime.Owner(ownerId);
        ShardSession? session;
        lock (bookkeeping)
        {
            if (!sessions.TryGetValue(id, out session))
            {
                return false;
            }
            if (session.Owner != owner)
            {
                throw WorkerErrors.Create(StatusCode.PermissionDenied, WorkerFailure.Rejected, $"Session {WorkerInput.Quote(id)} belongs to another coordinator.");
            }
            sessions.Remove(id);
        }
        session.Dispose();
        return true;
    }

    public ShardSession? FindSession(string id)
    {
        lock (bookkeeping)
        {
            return sessions.GetValueOrDefault(id);
        }
    }

    /// <summary>
    /// Evaluates one step on the calling thread (it blocks on the peers' partials, so the caller gives it a
    /// thread of its own) and builds the reply.
    /// </summary>
    public ShardStepReply Step(ShardStepRequest request)
    {
        string id = WorkerInput.SessionId(request.SessionId);
        var session = FindSession(id) ?? throw WorkerErrors.NotFound($"Session {WorkerInput.Quote(id)} is not open here.");
        lock (session.StepLock)
        {
            if (session.Broken is { } reason)
            {
                throw WorkerErrors.Precondition($"Session {WorkerInput.Quote(id)} is broken ({reason}); open a new one.");
            }
            if (session.Session.IsDisposed)
            {
                throw WorkerErrors.NotFound($"Session {WorkerInput.Quote(id)} was closed.");
            }
            var forward = session.Forward;
            int embd = session.Shard.Config.EmbeddingLength;
            int tokens = forward.TakesTokens ? request.Tokens.Count : (int)Math.Min(request.TokenCount, int.MaxValue);
            if (tokens == 0 || tokens > session.Reduction.MaxTokens)
            {
                throw WorkerErrors.Invalid($"A step carries 1 to {session.Reduction.MaxTokens} tokens, not {tokens}.");
            }
            if (request.StartPosition != (uint)session.Session.Position)
            {
                throw WorkerErrors.Precondition($"The step starts at position {request.StartPosition}; the session holds {session.Session.Position} tokens.");
            }
            if (tokens > session.Session.RemainingCapacity)
            {
                throw WorkerErrors.Invalid($"{tokens} tokens do not fit the {session.Session.RemainingCapacity} positions left in the session.");
            }
            if (!forward.WritesLogits && (request.WantGreedyToken || request.LogitsForAllTokens))
            {
                throw WorkerErrors.Invalid($"The shard's layers {session.Shard.Weights.Range} end before the output head: it answers with a hidden state, not logits.");
            }
            var replyEncoding = request.ReplyEncoding == ActivationEncoding.Unspecified ? ActivationEncoding.F32 : request.ReplyEncoding;
            if (!Enum.IsDefined(replyEncoding))
            {
                throw WorkerErrors.Invalid($"reply_encoding {(int)replyEncoding} is not an activation encoding.");
            }
            int[] ids = [];
            float[] hidden = [];
            if (forward.TakesTokens)
            {
                if (request.Hidden is not null)
                {
                    throw WorkerErrors.Invalid("The shard's layers start at 0: a step carries token ids, not a hidden state.");
                }
                int vocabulary = session.Shard.Config.VocabularySize;
                foreach (int token in request.Tokens)
                {
                    if ((uint)token >= (uint)vocabulary)
                    {
                        throw WorkerErrors.Invalid($"Token id {token} is outside the vocabulary [0, {vocabulary}).");
                    }
                }
                ids = request.Tokens.ToArray();
            }
            else
            {
                if (request.Tokens.Count != 0 || request.Hidden is null)
                {
                    throw WorkerErrors.Invalid($"The shard's layers start at {session.Shard.Weights.Range.Start}: a step carries the previous stage's hidden state, not token ids.");
                }
                try
                {
                    // Width, encoding and payload size are checked before the values are allocated.
                    hidden = ActivationCodec.FromMessage(request.Hidden, tokens, embd);
                }
                catch (ActivationPayloadException exception)
                {
                    throw WorkerErrors.Invalid($"ShardStep: {exception.Message}");
                }
            }
            session.LastUsedUtc = DateTime.UtcNow;
            int columns = forward.VocabularyCount;
            bool all = request.LogitsForAllTokens && !request.WantGreedyToken;
            var output = new float[forward.WritesLogits ? (all ? tokens : 1) * columns : tokens * embd];
            var clock = Stopwatch.StartNew();
            try
            {
                forward.EvaluateStage(session.Session, ids, hidden, tokens, output, all);
            }
            catch (Exception exception)
            {
                session.Broken = exception is RpcException rpc ? rpc.Status.Detail : exception.Message;
                throw;
            }
            var (reduce, sent, received) = session.Reduction.TakeFigures();
            var reply = new ShardStepReply
            {
                Sequence = request.Sequence,
                ComputeMicroseconds = (ulong)Math.Max(0, (clock.Elapsed - reduce).Ticks / 10),
                ReduceMicroseconds = (ulong)(reduce.Ticks / 10),
                PartialBytesSent = (ulong)sent,
                PartialBytesReceived = (ulong)received,
            };
            if (!forward.WritesLogits)
            {
                // Every shard of the group holds the same residual stream: shard 0 alone sends it on.
                if (session.Shard.Slice.ShardIndex == 0)
                {
                    reply.Hidden = ActivationCodec.ToMessage(output, tokens, embd, replyEncoding);
                }
            }
            else if (request.WantGreedyToken)
            {
                int best = 0;
                for (int i = 1; i < columns; i++)
                {
                    if (output[i] > output[best])
                    {
                        best = i;
                    }
                }
                reply.Greedy = new ShardArgmax { Token = session.Shard.Slice.VocabularyStart + best, Logit = output[best] };
            }
            else
            {
                reply.Logits = new Logits
                {
                    VocabularySize = (uint)columns, RowCount = (uint)(all ? tokens : 1),
                    Data = Google.Protobuf.ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(output.AsSpan())),
                };
            }
            return reply;
        }
    }

    // ---- leases and collection -------------------------------------------------------------------------------

    /// <summary>Frees what an owner whose lease expired held.</summary>
    public void ExpireOwner(string owner)
    {
        var closed = new List<ShardSession>();
        var freed = new List<HostedShard>();
        lock (bookkeeping)
        {
            foreach (var session in sessions.Values.Where(session => session.Owner == owner).ToList())
            {
                sessions.Remove(session.Id);
                closed.Add(session);
            }
            foreach (var shard in shards.Values.ToList())
            {
                if (shard.Holders.ReleaseAll(owner) && shard.Holders.IsEmpty)
                {
                    freed.Add(Unregister(shard, closed));
                }
            }
        }
        closed.ForEach(session => session.Dispose());
        freed.ForEach(shard => shard.Dispose());
    }

    /// <summary>Closes sessions unused since <paramref name="limit"/>.</summary>
    public void CollectIdle(DateTime limit)
    {
        var closed = new List<ShardSession>();
        lock (bookkeeping)
        {
            foreach (var session in sessions.Values.Where(session => session.LastUsedUtc < limit).ToList())
            {
                sessions.Remove(session.Id);
                closed.Add(session);
            }
        }
        closed.ForEach(session => session.Dispose());
    }

    public void Dispose()
    {
        peerListener?.Dispose();
        lock (bookkeeping)
        {
            foreach (var session in sessions.Values)
            {
                session.Dispose();
            }
            sessions.Clear();
            foreach (var shard in shards.Values)
            {
                shard.Dispose();
            }
            shards.Clear();
        }
    }
}
