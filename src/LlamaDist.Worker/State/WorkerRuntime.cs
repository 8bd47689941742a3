using System.Collections.Concurrent;
using System.Reflection;
using Grpc.Core;
using Grpc.Net.Client;
using LlamaDist.Core.Backends;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Security;
using LlamaDist.Distributed.Weights;
using LlamaDist.Gpu;
using LlamaDist.Worker.Hosting;

namespace LlamaDist.Worker.State;

/// <summary>
/// Everything one worker process holds: its compute threads, the ranges it has loaded (by hash), the sessions
/// open on them, and channels to the stages it forwards to. The gRPC service is a thin layer over this.
/// Evaluation runs one step at a time (the compute threads are the worker's one device); control calls only
/// take the bookkeeping lock.
/// </summary>
internal sealed class WorkerRuntime : IDisposable
{
    private readonly object bookkeeping = new();
    private readonly Dictionary<string, HostedRange> ranges = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PendingRange> pending = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HostedSession> sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, GrpcChannel> peers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> hashes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string[]> peerPins = new(StringComparer.Ordinal);
    private readonly ModelFileLocator locator;
    private readonly ConcurrentDictionary<string, DateTime> verifiedPeers = new(StringComparer.Ordinal);
    // Who asked for each pending load, kept with the load itself (it goes when the load is received or dropped).
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<PendingRange, string> pendingOwners = new();
    private readonly Timer collector;
    private long messagesReceived, bytesReceived, messagesSent, bytesSent;

    public WorkerRuntime(WorkerOptions options)
    {
        Options = options;
        Cache = new RangeCache(options.CacheDirectory, options.MaxCacheBytes);
        locator = new ModelFileLocator(options.ModelPath,
            trustCoordinatorPaths: options.ModelPath is null && System.Net.IPAddress.TryParse(options.Address, out var address) && System.Net.IPAddress.IsLoopback(address));
        // With --cpu-affinity each compute thread runs on a CPU of its own (when the set has one per thread).
        Threads = new ComputeThreads(options.Threads > 0 ? options.Threads
            : options.CpuAffinity.Count > 0 ? options.CpuAffinity.Count : Environment.ProcessorCount,
            options.CpuAffinity.Count > 0 ? options.CpuAffinity : null);
        Backend = ComputeBackends.Open(options.Backend, Threads);
        var (gigaFlops, bytesPerSecond) = Backend is IlgpuBackend device ? device.MeasureThroughput() : ThroughputProbe.Measure(Threads);
        Identity = new WorkerIdentity
        {
            WorkerId = Guid.NewGuid().ToString("N"),
            HostName = options.Name ?? Environment.MachineName,
            SoftwareVersion = typeof(WorkerRuntime).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0",
        };
        GigaFlops = gigaFlops;
        BytesPerSecond = bytesPerSecond;
        // A device backend holds weights and KV caches in the device's memory: that is what the planner may use.
        long available = Backend.Kind == ComputeBackendKind.Cpu ? SystemMemory.Available() : Backend.Device.FreeMemoryBytes;
        MemoryLimitBytes = options.MaxMemoryBytes > 0 ? Math.Min(options.MaxMemoryBytes, available) : available;
        Leases = new LeaseTable(options.LeaseTimeout);
        var sweep = Math.Min(options.SessionIdleTimeout.TotalSeconds, options.LeaseTimeout.TotalSeconds) / 4;
        var period = TimeSpan.FromSeconds(Math.Clamp(sweep, 0.25, 30));
        Shards = new Tensor.TensorShardHost(this);
        collector = new Timer(_ => Collect(), null, period, period);
    }

    /// <summary>Tensor-parallel shards and their sessions (LoadShard, OpenShardSession, ShardStep; partial sums over peer links).</summary>
    public Tensor.TensorShardHost Shards { get; }

    /// <summary>Answers MeasureLink (link timing and a fresh throughput figure).</summary>
    public LinkProbeResponder LinkProbe => linkProbe ??= new LinkProbeResponder(this);

    private LinkProbeResponder? linkProbe;

    /// <summary>Where this worker may find a model file the coordinator names (its own -ModelPath first).</summary>
    internal ModelFileLocator ModelFiles => locator;

    /// <summary>The range hash of <paramref name="layers"/> of the open <paramref name="file"/>, remembered per file version.</summary>
    internal string HashRange(GgufFile file, string path, LlamaConfig config, LayerRange layers, CancellationToken cancellationToken)
    {
        var info = new FileInfo(path);
        var key = $"{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}|{layers}";
        return hashes.GetOrAdd(key, _ => RangeHasher.Hash(file, RangeTensors.Select(file, config, layers), cancellationToken));
    }

    /// <summary>Refuses (ResourceExhausted) what does not fit the worker's free memory.</summary>
    internal void EnsureFree(long bytes, string what) => EnsureMemory((ulong)Math.Max(0, bytes), what);

    public WorkerOptions Options { get; }

    /// <summary>Streamed ranges on disk, bounded by <see cref="WorkerOptions.MaxCacheBytes"/>.</summary>
    public RangeCache Cache { get; }

    public ComputeThreads Threads { get; }

    /// <summary>Where hosted ranges run (the CPU engine on <see cref="Threads"/>, or an ILGPU device).</summary>
    public IComputeBackend Backend { get; }

    public WorkerIdentity Identity { get; }

    public double GigaFlops { get; }

    public double BytesPerSecond { get; }

    /// <summary>Serialises evaluation, one micro-batch at a time on the compute threads, fairly between sessions.</summary>
    public FairComputeGate Compute { get; } = new();

    /// <summary>When each owner last called; see <see cref="Collect"/>.</summary>
    public LeaseTable Leases { get; }

    /// <summary>Micro-batches of sessions on the same range, evaluated together on the compute gate.</summary>
    public StepBatcher Batcher => LazyInitializer.EnsureInitialized(ref batcher, () => new StepBatcher(Compute, Options.MaxStepTokens, CompanionsElsewhere, Threads));

    /// <summary>
    /// The sessions a step of <paramref name="waiting"/> may wait for: those of its range with a step stream open
    /// but no step on this worker right now; where the ring's stages share a machine, only those that share it too
    /// and are due back (<see cref="StepPace.IsDueBy"/>), since such a step waits up to a pass for them.
    /// </summary>
    private int CompanionsElsewhere(HostedSession waiting)
    {
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        lock (bookkeeping)
        {
            return sessions.Values.Count(session => session.Range == waiting.Range && session.Streaming && !session.IsStepping &&
                (!waiting.StagesShareMachine || (session.StagesShareMachine && session.Pace.IsDueBy(now))));
        }
    }

    private StepBatcher? batcher;

    /// <summary>Test hook: called on the compute gate after each micro-batch with the session id and its token count.</summary>
    internal Action<string, int>? MicroBatchEvaluated
    {
        get => Batcher.Evaluated;
        set => Batcher.Evaluated = value;
    }

    /// <summary>
    /// Bytes of weights and KV caches this worker admits: --max-memory, or what was free when it started (never
    /// more than the machine can give, so eight huge contexts are refused rather than swapped or killed).
    /// </summary>
    public long MemoryLimitBytes { get; }

    public long TotalMemoryBytes => MemoryLimitBytes;

    public long UsedMemoryBytes
    {
        get
        {
            long shardBytes = Shards?.UsedMemoryBytes ?? 0;
            lock (bookkeeping)
            {
                return shardBytes + ranges.Values.Sum(range => range.WeightBytes) + sessions.Values.Sum(session => session.Cache.KvCacheBytes);
            }
        }
    }

    /// <summary>What the planner may still use here.</summary>
    public long FreeMemoryBytes => Math.Max(0, MemoryLimitBytes - UsedMemoryBytes);

    /// <summary>Counts one Forward step message that arrived here.</summary>
    public void CountReceived(int bytes)
    {
        Interlocked.Increment(ref messagesReceived);
        Interlocked.Add(ref bytesReceived, bytes);
    }

    /// <summary>Counts one Forward step message this worker sent on (to the next stage or the coordinator).</summary>
    public void CountSent(int bytes)
    {
        Interlocked.Increment(ref messagesSent);
        Interlocked.Add(ref bytesSent, bytes);
    }

    /// <summary>
    /// Who this worker is and what it can do; with a token, the proof for the caller's challenge (callers refuse
    /// a worker that cannot show it holds their token).
    /// </summary>
    public HandshakeReply Handshake(HandshakeRequest request)
    {
        var reply = Handshake();
        if (Options.Token is { } token && request.Challenge.Length is > 0 and <= 256)
        {
            reply.ChallengeResponse = Google.Protobuf.ByteString.CopyFrom(ClusterToken.Prove(token, request.Challenge.Span));
        }
        return reply;
    }

    public HandshakeReply Handshake() => new()
    {
        Worker = Identity,
        Protocol = WireProtocol.Current,
        Capabilities = new WorkerCapabilities
        {
            Backend = Backend.Kind switch
            {
                ComputeBackendKind.Cuda => ComputeBackend.Cuda,
                ComputeBackendKind.OpenCL => ComputeBackend.Opencl,
                ComputeBackendKind.IlgpuCpu => ComputeBackend.IlgpuCpu,
                _ => ComputeBackend.Cpu,
            },
            DeviceName = Backend.Kind == ComputeBackendKind.Cpu
                ? $"CPU ({System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}, {Environment.ProcessorCount} logical processors)"
                : Backend.Device.Name,
            Threads = (uint)Threads.ThreadCount,
            TotalMemoryBytes = (ulong)TotalMemoryBytes,
            FreeMemoryBytes = (ulong)FreeMemoryBytes,
            MatvecGflops = GigaFlops,
            BytesPerSecond = BytesPerSecond,
            ActivationEncodings = { ActivationEncoding.F16, ActivationEncoding.F32, ActivationEncoding.Q80 },
        },
    };

    public WorkerStatus Status()
    {
        var status = new WorkerStatus
        {
            Worker = Identity,
            FreeMemoryBytes = (ulong)FreeMemoryBytes,
            ForwardMessagesReceived = (ulong)Interlocked.Read(ref messagesReceived),
            ForwardBytesReceived = (ulong)Interlocked.Read(ref bytesReceived),
            ForwardMessagesSent = (ulong)Interlocked.Read(ref messagesSent),
            ForwardBytesSent = (ulong)Interlocked.Read(ref bytesSent),
        };
        lock (bookkeeping)
        {
            foreach (var range in ranges.Values)
            {
                status.Ranges.Add(new LoadedRange
                {
                    Model = new ModelIdentity { FileName = WorkerInput.Quote(range.FileName), RangeHash = range.Hash },
                    Layers = ProtocolMapping.ToMessage(range.Layers, range.Config.LayerCount),
                    State = RangeLoadState.Loaded,
                    WeightBytes = (ulong)range.WeightBytes,
                    Resident = range.Memory == WeightMemory.Resident,
                });
            }
            DropExpiredPending();
            foreach (var waiting in pending.Values)
            {
                status.Ranges.Add(new LoadedRange
                {
                    Model = new ModelIdentity { FileName = WorkerInput.Quote(waiting.FileName), RangeHash = waiting.Hash },
                    Layers = ProtocolMapping.ToMessage(waiting.Layers, waiting.Config.LayerCount),
                    State = RangeLoadState.NeedsWeights,
                });
            }
            status.OpenSessions = (uint)sessions.Count;
        }
        status.MaxSessions = (uint)Options.MaxSessions;
        status.MaxContext = (uint)Options.MaxContext;
        status.MaxStepTokens = (uint)Options.MaxStepTokens;
        status.LeaseMilliseconds = (ulong)Options.LeaseTimeout.TotalMilliseconds;
        return status;
    }

    // ---- ranges ----------------------------------------------------------------------------------------------

    /// <summary>Longest file name and path a LoadRange may carry (the file systems' own limits are lower).</summary>
    private const int MaxFileNameLength = 255, MaxPathLength = 4096;

    /// <summary>Most tensors one range may have (a model has about ten per layer).</summary>
    private const long MaxRangeTensors = 1 << 16;

    /// <summary>
    /// Loads a range from the worker's own copy (its -ModelPath, else the coordinator's path) or its cache,
    /// verifying the hash; answers NeedsWeights when it has no copy. A copy that exists but hashes differently
    /// is refused rather than replaced: the coordinator and worker disagree about the model.
    /// </summary>
    public LoadRangeReply LoadRange(LoadRangeRequest request, CancellationToken cancellationToken)
    {
        var owner = Owner(request.OwnerId);
        var hash = WorkerInput.RangeHash(request.Model?.RangeHash, "model.range_hash");
        WorkerInput.Length(request.Model!.FileName, MaxFileNameLength, "model.file_name");
        WorkerInput.Length(request.WorkerPath, MaxPathLength, "worker_path");
        if (request.Stream is { } offered)
        {
            WorkerInput.AtMost(offered.TotalBytes, long.MaxValue, "stream.total_bytes");
            WorkerInput.AtMost(offered.TensorCount, MaxRangeTensors, "stream.tensor_count");
        }
        LlamaConfig config;
        LayerRange layers;
        try
        {
            config = ProtocolMapping.ToConfig(request.Config ?? throw new ArgumentException("config is missing."));
            layers = ProtocolMapping.ToRange(request.Layers ?? throw new ArgumentException("layers are missing."), config.LayerCount);
        }
        catch (Exception exception) when (exception is ArgumentException or OverflowException)
        {
            // OverflowException: a uint field beyond int (the mapping's checked casts) is as malformed as any other.
            throw WorkerErrors.Invalid($"LoadRange: {exception.Message}");
        }

        lock (bookkeeping)
        {
            if (ranges.TryGetValue(hash, out var loaded))
            {
                RefuseConflict(hash, loaded.Config, loaded.Layers, config, layers);
                loaded.Holders.Add(owner);
                return new LoadRangeReply { State = RangeLoadState.Loaded, WeightBytes = (ulong)loaded.WeightBytes, Message = "already loaded" };
            }
            if (pending.TryGetValue(hash, out var waiting))
            {
                RefuseConflict(hash, waiting.Config, waiting.Layers, config, layers);
            }
        }

        var fileName = Path.GetFileName(request.Model!.FileName ?? "");
        var mismatches = new List<string>();
        foreach (var candidate in locator.Candidates(request.WorkerPath, fileName))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var range = TryOpen(candidate, hash, fileName, config, layers, mismatches, cancellationToken);
            if (range is not null)
            {
                return Register(range, owner, $"loaded from {range.Source}");
            }
        }
        if (mismatches.Count > 0)
        {
            throw WorkerErrors.ModelMismatch(
                $"The worker's copy of the model differs from the coordinator's: {string.Join("; ", mismatches)}. Give both the same GGUF file.");
        }

        var cached = Cache.PathOf(hash);
        if (File.Exists(cached))
        {
            var range = TryOpen(new ModelFileLocator.Candidate(cached, Own: true), hash, fileName, config, layers, mismatches, cancellationToken, source: "cache");
            if (range is not null)
            {
                Cache.Touch(cached);
                return Register(range, owner, "loaded from cache");
            }
            File.Delete(cached);  // corrupt or stale: fetch it again
        }

        if (request.Stream is null)
        {
            throw WorkerErrors.Precondition($"The worker has no copy of range {hash[..12]} ({WorkerInput.Quote(fileName)}) and the caller offered no weight stream.");
        }
        return ExpectStream(hash, fileName, config, layers, request.Stream, owner);
    }

    /// <summary>
    /// Accepts the announcement of a weight stream: no larger than the range's tensors can be (see
    /// <see cref="RangeByteBound"/>), room made for it in the cache and in memory, a bounded number waiting, each
    /// forgotten after <see cref="WorkerOptions.PendingLoadTimeout"/>.
    /// </summary>
    private LoadRangeReply ExpectStream(string hash, string fileName, LlamaConfig config, LayerRange layers, WeightStreamSource stream, string owner)
    {
        long bound;
        try
        {
            bound = RangeByteBound.Maximum(config, layers);
        }
        catch (OverflowException)
        {
            throw WorkerErrors.Invalid("The model's hyperparameters describe tensors too large to exist.");
        }
        if (stream.TotalBytes == 0 || stream.TotalBytes > (ulong)bound)
        {
            throw WorkerErrors.Invalid(
                $"The weight stream announces {stream.TotalBytes:N0} bytes; layers {layers} of this model hold at most {bound:N0} (every value as F32).");
        }
        if (stream.TensorCount == 0 || stream.TensorCount > (uint)RangeByteBound.MaximumTensorCount(config, layers))
        {
            throw WorkerErrors.Invalid($"The weight stream announces {stream.TensorCount} tensors; layers {layers} have at most {RangeByteBound.MaximumTensorCount(config, layers)}.");
        }
        long total = (long)stream.TotalBytes;
        EnsureMemory((ulong)total);
        lock (bookkeeping)
        {
            DropExpiredPending();
            if (!pending.ContainsKey(hash) && pending.Count >= Options.MaxPendingLoads)
            {
                throw WorkerErrors.Create(StatusCode.ResourceExhausted, WorkerFailure.Rejected,
                    $"{pending.Count} ranges are already waiting for weights on this worker; stream one of them or try again later.");
            }
            Cache.Reserve(total, ranges.Keys.Concat(pending.Keys).ToHashSet(StringComparer.Ordinal));
            pending[hash] = new PendingRange(hash, fileName, config, layers, total, (int)stream.TensorCount,
                DateTime.UtcNow + Options.PendingLoadTimeout);
            pendingOwners.AddOrUpdate(pending[hash], owner);
        }
        return new LoadRangeReply { State = RangeLoadState.NeedsWeights, Message = "no local copy: send the range's tensors" };
    }

    /// <summary>One hash names one range: a request for the same hash with other layers or another model is refused.</summary>
    private static void RefuseConflict(string hash, LlamaConfig heldConfig, LayerRange heldLayers, LlamaConfig config, LayerRange layers)
    {
        if (heldLayers != layers || !ProtocolMapping.ToMessage(heldConfig).Equals(ProtocolMapping.ToMessage(config)))
        {
            throw WorkerErrors.Create(StatusCode.AlreadyExists, WorkerFailure.Rejected,
                $"Range {hash[..12]} is held here as layers {heldLayers} of another configuration; the same hash cannot name layers {layers}.");
        }
    }

    private void DropExpiredPending()
    {
        var now = DateTime.UtcNow;
        foreach (var expired in pending.Values.Where(range => range.ExpiresUtc < now).Select(range => range.Hash).ToList())
        {
            pending.Remove(expired);
        }
    }

    public PendingRange TakePending(string hash)
    {
        lock (bookkeeping)
        {
            DropExpiredPending();
            if (!pending.TryGetValue(hash, out var range))
            {
                throw WorkerErrors.NotFound($"No LoadRange is waiting for weights of range {WorkerInput.Quote(hash)} (never asked for, or expired); call LoadRange first.");
            }
            pending.Remove(hash);
            return range;
        }
    }

    /// <summary>Loads a cache file StreamWeights has just written and verified.</summary>
    public LoadRangeReply LoadVerifiedCacheFile(PendingRange range, string path)
    {
        var file = GgufFile.Open(path);
        try
        {
            var tensors = RangeTensors.Select(file, range.Config, range.Layers);
            var owner = pendingOwners.TryGetValue(range, out var waiting) ? waiting : "";
            return Register(new HostedRange(range.Hash, range.FileName, file, range.Config, range.Layers,
                RangeTensors.ByteCount(tensors), Backend, "streamed weights", Options.WeightMemory), owner, "loaded from streamed weights");
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public string CacheFile(string hash) => Cache.PathOf(hash);

    /// <summary>
    /// Drops one of <paramref name="ownerId"/>'s holds on a range; the range (and every session on it) is freed
    /// when nobody holds it any more. A range only other owners hold is refused: a careless neighbour cannot pull
    /// a live cluster's layers away.
    /// </summary>
    public ReleaseRangeReply ReleaseRange(string hash, string ownerId)
    {
        var owner = Owner(ownerId);
        HostedRange? freed = null;
        var closed = new List<HostedSession>();
        lock (bookkeeping)
        {
            if (pending.TryGetValue(hash, out var load) && pendingOwners.TryGetValue(load, out var waiting) && waiting == owner)
            {
                pending.Remove(hash);
            }
            if (ranges.TryGetValue(hash, out var range))
            {
                if (!range.Holders.Release(owner))
                {
                    throw WorkerErrors.Create(StatusCode.PermissionDenied, WorkerFailure.Rejected,
                        $"Range {hash[..Math.Min(hash.Length, 12)]} is held by another coordinator; only its holders may release it.");
                }
                if (range.Holders.IsEmpty)
                {
                    freed = Unregister(range, closed);
                }
            }
        }
        Dispose(closed, freed);
        return new ReleaseRangeReply { FreedBytes = (ulong)(freed?.WeightBytes ?? 0), ClosedSessions = (uint)closed.Count };
    }

    /// <summary>Removes a range nobody holds and the sessions on it (bookkeeping lock held); they are disposed after.</summary>
    private HostedRange Unregister(HostedRange range, List<HostedSession> closed)
    {
        ranges.Remove(range.Hash);
        foreach (var session in sessions.Values.Where(s => s.Range == range).ToList())
        {
            sessions.Remove(session.Id);
            closed.Add(session);
        }
        return range;
    }

    /// <summary>Frees caches and ranges between micro-batches, never under a running evaluation.</summary>
    private void Dispose(List<HostedSession> closed, HostedRange? freed)
    {
        if (closed.Count == 0 && freed is null)
        {
            return;
        }
        using (Compute.Enter())
        {
            closed.ForEach(session => session.Dispose());
            freed?.Dispose();
        }
    }

    /// <summary>Checks an owner id from the wire and renews its lease: every call of an owner shows it is alive.</summary>
    public string Owner(string? ownerId)
    {
        string owner;
        try
        {
            owner = LeaseTable.Validate(ownerId);
        }
        catch (ArgumentException exception)
        {
            throw WorkerErrors.Invalid(exception.Message);
        }
        Leases.Renew(owner);
        return owner;
    }

    /// <summary>RenewLease: what the owner holds here, and the lease it must renew within.</summary>
    public RenewLeaseReply RenewLease(string ownerId)
    {
        var owner = Owner(ownerId);
        lock (bookkeeping)
        {
            return new RenewLeaseReply
            {
                LeaseMilliseconds = (ulong)Options.LeaseTimeout.TotalMilliseconds,
                Ranges = (uint)ranges.Values.Sum(range => range.Holders.CountOf(owner)),
                Sessions = (uint)sessions.Values.Count(session => session.Owner == owner),
            };
        }
    }

    /// <summary>
    /// Opens <paramref name="candidate"/> as the range when its tensors hash to <paramref name="hash"/>. Why one of
    /// the worker's own files cannot serve is added to <paramref name="mismatches"/>; a path the caller named fails
    /// silently, exactly as if it did not exist (no existence, no contents, no reason leaks back).
    /// </summary>
    private HostedRange? TryOpen(ModelFileLocator.Candidate candidate, string hash, string fileName, LlamaConfig config, LayerRange layers,
        List<string> mismatches, CancellationToken cancellationToken, string? source = null)
    {
        var path = candidate.Path;
        if (!File.Exists(path))
        {
            return null;
        }
        GgufFile file;
        try
        {
            file = GgufFile.Open(path);
        }
        catch (Exception exception) when (exception is GgufFormatException or IOException or UnauthorizedAccessException)
        {
            if (candidate.Own)
            {
                mismatches.Add($"{WorkerInput.Quote(path)} is not a readable GGUF ({(exception is GgufFormatException format ? format.Problem : WorkerInput.Quote(exception.Message))})");
            }
            return null;
        }
        try
        {
            var tensors = RangeTensors.Select(file, config, layers);
            var info = new FileInfo(path);
            var key = $"{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}|{layers}";
            var actual = hashes.GetOrAdd(key, _ => RangeHasher.Hash(file, tensors, cancellationToken));
            if (!string.Equals(actual, hash, StringComparison.Ordinal))
            {
                if (candidate.Own)
                {
                    mismatches.Add($"layers {layers} of {WorkerInput.Quote(path)} hash to {actual[..12]}, the coordinator's to {hash[..12]}");
                }
                file.Dispose();
                return null;
            }
            var bytes = RangeTensors.ByteCount(tensors);
            EnsureMemory((ulong)bytes);
            return new HostedRange(hash, fileName, file, config, layers, bytes, Backend, source ?? $"model file {path}", Options.WeightMemory);
        }
        catch (Exception exception) when (exception is UnsupportedModelException or GgufFormatException or ArgumentException
            or KeyNotFoundException or IOException or UnauthorizedAccessException)
        {
            file.Dispose();
            if (candidate.Own)
            {
                mismatches.Add($"{WorkerInput.Quote(path)} cannot run layers {layers}: {WorkerInput.Quote(exception.Message)}");
            }
            return null;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private LoadRangeReply Register(HostedRange range, string owner, string message)
    {
        lock (bookkeeping)
        {
            if (ranges.TryGetValue(range.Hash, out var existing))
            {
                // Loaded concurrently by another cluster: keep one copy.
                existing.Holders.Add(owner);
                range.Dispose();
                return new LoadRangeReply { State = RangeLoadState.Loaded, WeightBytes = (ulong)existing.WeightBytes, Message = "already loaded" };
            }
            range.Holders.Add(owner);
            ranges[range.Hash] = range;
        }
        return new LoadRangeReply { State = RangeLoadState.Loaded, WeightBytes = (ulong)range.WeightBytes, Message = message };
    }

    private void EnsureMemory(ulong bytes, string what = "The range")
    {
        var free = FreeMemoryBytes;
        if (bytes > (ulong)free)
        {
            throw WorkerErrors.OutOfMemory(
                $"{what} needs {bytes:N0} bytes but this worker has {free:N0} of its {MemoryLimitBytes:N0}-byte limit free (--max-memory / -MaxMemory).");
        }
    }

    // ---- sessions --------------------------------------------------------------------------------------------

    /// <summary>Longest next_endpoint (a DNS name of 253 characters, a colon and a port).</summary>
    private const int MaxEndpointLength = 260;

    public OpenSessionReply OpenSession(OpenSessionRequest request)
    {
        WorkerInput.SessionId(request.SessionId);
        WorkerInput.RangeHash(request.RangeHash);
        WorkerInput.Length(request.NextEndpoint, MaxEndpointLength, "next_endpoint");
        if (request.ContextSize == 0 || request.MaxBatchTokens == 0 || request.MaxBatchTokens > request.ContextSize)
        {
            throw WorkerErrors.Invalid($"context_size ({request.ContextSize}) and max_batch_tokens ({request.MaxBatchTokens}) must be positive, the batch no larger than the context.");
        }
        var owner = Owner(request.OwnerId);
        WorkerEndpoint? next = null;
        if (request.NextEndpoint.Length > 0 && !WorkerEndpoint.TryParse(request.NextEndpoint, out next, out var problem))
        {
            throw WorkerErrors.Invalid(problem);  // problem quotes the endpoint, whose length is bounded above
        }
        HostedRange range;
        lock (bookkeeping)
        {
            if (!ranges.TryGetValue(request.RangeHash, out range!))
            {
                throw WorkerErrors.NotFound($"Range {request.RangeHash} is not loaded on this worker.");
            }
            if (sessions.ContainsKey(request.SessionId))
            {
                throw WorkerErrors.Precondition($"Session {request.SessionId} is already open.");
            }
        }
        long sessionBytes = AdmissionPolicy.SessionBytes(Options, range, request);
        lock (bookkeeping)
        {
            AdmissionPolicy.EnsureSessionSlot(Options, sessions.Count);
        }
        EnsureMemory((ulong)sessionBytes, $"A session of {request.ContextSize} tokens");
        var session = new HostedSession(request.SessionId, range, (int)request.ContextSize, (int)request.MaxBatchTokens, next)
        {
            Owner = owner, StagesShareMachine = request.StagesShareMachine,
        };
        lock (bookkeeping)
        {
            if (!ranges.ContainsKey(range.Hash) || sessions.Count >= Options.MaxSessions || !sessions.TryAdd(session.Id, session))
            {
                session.Dispose();
                throw WorkerErrors.Precondition($"Session {request.SessionId} could not be opened (range released, id taken, or the last session slot taken meanwhile).");
            }
        }
        return new OpenSessionReply { KvCacheBytes = (ulong)session.Cache.KvCacheBytes };
    }

    public HostedSession GetSession(string id)
    {
        lock (bookkeeping)
        {
            return sessions.TryGetValue(id, out var session) ? session
                : throw WorkerErrors.NotFound($"Session {WorkerInput.Quote(id)} is not open on this worker (closed, collected when idle, or never opened).");
        }
    }

    /// <summary>CloseSession from the wire: only the session's owner may close it.</summary>
    public bool CloseSession(string id, string ownerId)
    {
        var owner = Owner(ownerId);
        lock (bookkeeping)
        {
            if (sessions.TryGetValue(id, out var session) && session.Owner != owner)
            {
                throw WorkerErrors.Create(StatusCode.PermissionDenied, WorkerFailure.Rejected,
                    "The session belongs to another coordinator; only its owner may close it.");
            }
        }
        return CloseSession(id);
    }

    /// <summary>Closes a session for the worker's own reasons (its stream ended, idle, lease expired).</summary>
    public bool CloseSession(string id)
    {
        HostedSession? session;
        lock (bookkeeping)
        {
            if (!sessions.Remove(id, out session))
            {
                return false;
            }
        }
        Dispose([session], null);
        return true;
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

    /// <summary>
    /// The periodic sweep: sessions idle past the idle timeout close; owners whose lease ran out lose everything
    /// they held here — their sessions (streaming or not: a frozen coordinator's stream stays open) and their
    /// holds on ranges, a range being freed once nobody holds it.
    /// </summary>
    private void Collect()
    {
        lock (bookkeeping)
        {
            DropExpiredPending();
        }
        var limit = DateTime.UtcNow - Options.SessionIdleTimeout;
        List<string> idle;
        lock (bookkeeping)
        {
            idle = sessions.Values.Where(s => !s.Streaming && s.LastUsedUtc < limit).Select(s => s.Id).ToList();
        }
        idle.ForEach(id => CloseSession(id));
        Shards.CollectIdle(limit);
        foreach (var owner in Leases.TakeExpired())
        {
            ExpireOwner(owner);
        }
    }

    /// <summary>Frees what an owner whose lease expired held (see <see cref="Collect"/>).</summary>
    internal void ExpireOwner(string owner)
    {
        Shards.ExpireOwner(owner);
        var closed = new List<HostedSession>();
        var freed = new List<HostedRange>();
        lock (bookkeeping)
        {
            foreach (var session in sessions.Values.Where(s => s.Owner == owner).ToList())
            {
                sessions.Remove(session.Id);
                closed.Add(session);
            }
            foreach (var range in ranges.Values.ToList())
            {
                if (range.Holders.ReleaseAll(owner) && range.Holders.IsEmpty)
                {
                    freed.Add(Unregister(range, closed));
                }
            }
            foreach (var load in pending.Values.Where(load => pendingOwners.TryGetValue(load, out var waiting) && waiting == owner).ToList())
            {
                pending.Remove(load.Hash);
            }
        }
        Dispose(closed, null);
        freed.ForEach(range => Dispose([], range));
    }

    /// <summary>
    /// Opens the channel to a next stage (with this worker's token and the pins the coordinator sent for it): a
    /// real socket by default; tests route endpoint names to in-memory servers instead. Set before the first
    /// session forwards anywhere.
    /// </summary>
    internal Func<WorkerEndpoint, WorkerCredentials, GrpcChannel> OpenPeerChannel { get; set; } = WorkerChannels.Open;

    /// <summary>
    /// Where a peer shard's link is dialled (the host of its endpoint and its peer port by default); tests whose
    /// workers have made-up endpoint names map them to loopback.
    /// </summary>
    internal Func<Tensor.PeerAddress, Tensor.PeerAddress> PeerLinkAddress { get; set; } = address => address;

    /// <summary>A channel to the next stage, shared by every session that forwards there with the same pins.</summary>
    public LlamaWorker.LlamaWorkerClient PeerClient(WorkerEndpoint endpoint)
    {
        var credentials = PeerCredentials(endpoint);
        var key = $"{endpoint}|{string.Join(",", credentials.CertificateThumbprints)}";
        return new(peers.GetOrAdd(key, _ => OpenPeerChannel(endpoint, credentials)));
    }

    /// <summary>This worker's TLS certificate; presented as its client certificate to next stages that require one.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? OwnCertificate { get; init; }

    private WorkerCredentials PeerCredentials(WorkerEndpoint endpoint) => new()
    {
        Token = Options.Token,
        ClientCertificate = OwnCertificate,
        CertificateThumbprints = peerPins.TryGetValue(endpoint.ToString(), out var pins) ? pins : [],
    };

    /// <summary>
    /// Checks the next stage an OpenSession names before any session forwards there: its certificate pins are
    /// recorded for the channel, and, when this worker has a token, the next stage must prove in a handshake
    /// that it holds the same one. So a worker never relays activations (or connects at all, beyond that
    /// handshake) to an address that is not another worker of the same cluster. Proven stages are remembered
    /// for <see cref="VerifiedPeerLifetime"/>.
    /// </summary>
    public async Task VerifyNextStageAsync(OpenSessionRequest request, CancellationToken cancellationToken)
    {
        if (request.NextEndpoint.Length == 0)
        {
            return;
        }
        if (!WorkerEndpoint.TryParse(request.NextEndpoint, out var next, out var problem))
        {
            throw WorkerErrors.Invalid(problem);
        }
        string[] pins;
        try
        {
            pins = request.NextCertificateThumbprints.Take(16).Select(CertificatePins.Normalize).Distinct().ToArray();
        }
        catch (ArgumentException exception)
        {
            throw WorkerErrors.Invalid(exception.Message);
        }
        var endpointKey = next.ToString();
        peerPins[endpointKey] = pins;
        if (Options.Token is not { } token)
        {
            return;
        }
        var proofKey = $"{endpointKey}|{string.Join(",", pins)}";
        if (verifiedPeers.TryGetValue(proofKey, out var provenAt) && DateTime.UtcNow - provenAt < VerifiedPeerLifetime)
        {
            return;
        }
        try
        {
            await WorkerClient.HandshakeAsync(next, PeerClient(next), token, $"worker {Identity.HostName}", cancellationToken).ConfigureAwait(false);
        }
        catch (WorkerCallException exception)
        {
            throw WorkerErrors.Create(StatusCode.FailedPrecondition, WorkerFailure.Rejected,
                $"The next stage {next} is not a worker of this cluster: {exception.Message}");
        }
        verifiedPeers[proofKey] = DateTime.UtcNow;
    }

    /// <summary>How long a next stage's proof of the token is trusted before it is asked again.</summary>
    public static readonly TimeSpan VerifiedPeerLifetime = TimeSpan.FromMinutes(10);

    public void Dispose()
    {
        collector.Dispose();
        Shards.Dispose();
        lock (bookkeeping)
        {
            foreach (var session in sessions.Values)
            {
                session.Dispose();
            }
            sessions.Clear();
            foreach (var range in ranges.Values)
            {
                range.Dispose();
            }
            ranges.Clear();
        }
        foreach (var channel in peers.Values)
        {
            channel.Dispose();
        }
        Backend.Dispose();
        Threads.Dispose();
    }
}
