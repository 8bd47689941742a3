using System.Collections.Concurrent;
using System.Reflection;
using Grpc.Core;
using Grpc.Net.Client;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Weights;
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
    private readonly Timer collector;
    private long messagesReceived, bytesReceived, messagesSent, bytesSent;

    public WorkerRuntime(WorkerOptions options)
    {
        Options = options;
        Threads = new ComputeThreads(options.Threads > 0 ? options.Threads : Environment.ProcessorCount);
        var (gigaFlops, bytesPerSecond) = ThroughputProbe.Measure(Threads);
        Identity = new WorkerIdentity
        {
            WorkerId = Guid.NewGuid().ToString("N"),
            HostName = options.Name ?? Environment.MachineName,
            SoftwareVersion = typeof(WorkerRuntime).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0",
        };
        GigaFlops = gigaFlops;
        BytesPerSecond = bytesPerSecond;
        var period = TimeSpan.FromSeconds(Math.Clamp(options.SessionIdleTimeout.TotalSeconds / 4, 1, 30));
        collector = new Timer(_ => CollectIdleSessions(), null, period, period);
    }

    public WorkerOptions Options { get; }

    public ComputeThreads Threads { get; }

    public WorkerIdentity Identity { get; }

    public double GigaFlops { get; }

    public double BytesPerSecond { get; }

    /// <summary>Serialises evaluation: one step at a time on the compute threads.</summary>
    public object ComputeLock { get; } = new();

    public long TotalMemoryBytes => Options.MaxMemoryBytes > 0 ? Options.MaxMemoryBytes : SystemMemory.Total();

    public long UsedMemoryBytes
    {
        get
        {
            lock (bookkeeping)
            {
                return ranges.Values.Sum(range => range.WeightBytes) + sessions.Values.Sum(session => session.Cache.KvCacheBytes);
            }
        }
    }

    /// <summary>What the planner may still use here.</summary>
    public long FreeMemoryBytes => Options.MaxMemoryBytes > 0
        ? Math.Max(0, Options.MaxMemoryBytes - UsedMemoryBytes)
        : SystemMemory.Available();

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

    public HandshakeReply Handshake() => new()
    {
        Worker = Identity,
        Protocol = WireProtocol.Current,
        Capabilities = new WorkerCapabilities
        {
            Backend = ComputeBackend.Cpu,
            DeviceName = $"CPU ({System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}, {Environment.ProcessorCount} logical processors)",
            Threads = (uint)Threads.ThreadCount,
            TotalMemoryBytes = (ulong)TotalMemoryBytes,
            FreeMemoryBytes = (ulong)FreeMemoryBytes,
            MatvecGflops = GigaFlops,
            BytesPerSecond = BytesPerSecond,
            ActivationEncodings = { ActivationEncoding.F16, ActivationEncoding.F32 },
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
                    Model = new ModelIdentity { FileName = range.FileName, RangeHash = range.Hash },
                    Layers = ProtocolMapping.ToMessage(range.Layers, range.Config.LayerCount),
                    State = RangeLoadState.Loaded,
                    WeightBytes = (ulong)range.WeightBytes,
                    Resident = range.Forward.Weights.Memory == WeightMemory.Resident,
                });
            }
            foreach (var waiting in pending.Values)
            {
                status.Ranges.Add(new LoadedRange
                {
                    Model = new ModelIdentity { FileName = waiting.FileName, RangeHash = waiting.Hash },
                    Layers = ProtocolMapping.ToMessage(waiting.Layers, waiting.Config.LayerCount),
                    State = RangeLoadState.NeedsWeights,
                });
            }
            status.OpenSessions = (uint)sessions.Count;
        }
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
                loaded.Holders++;
                return new LoadRangeReply { State = RangeLoadState.Loaded, WeightBytes = (ulong)loaded.WeightBytes, Message = "already loaded" };
            }
        }

        var fileName = Path.GetFileName(request.Model!.FileName ?? "");
        var mismatches = new List<string>();
        foreach (var candidate in Candidates(request.WorkerPath, fileName))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var range = TryOpen(candidate, hash, fileName, config, layers, mismatches, cancellationToken);
            if (range is not null)
            {
                return Register(range, $"loaded from {range.Source}");
            }
        }
        if (mismatches.Count > 0)
        {
            throw WorkerErrors.ModelMismatch(
                $"The worker's copy of the model differs from the coordinator's: {string.Join("; ", mismatches)}. Give both the same GGUF file.");
        }

        var cached = CacheFile(hash);
        if (File.Exists(cached))
        {
            var range = TryOpen(cached, hash, fileName, config, layers, mismatches, cancellationToken, source: "cache");
            if (range is not null)
            {
                return Register(range, "loaded from cache");
            }
            File.Delete(cached);  // corrupt or stale: fetch it again
        }

        if (request.Stream is null)
        {
            throw WorkerErrors.Precondition($"The worker has no copy of range {hash[..12]} ({WorkerInput.Quote(fileName)}) and the caller offered no weight stream.");
        }
        EnsureMemory(request.Stream.TotalBytes);
        lock (bookkeeping)
        {
            pending[hash] = new PendingRange(hash, fileName, config, layers, (long)request.Stream.TotalBytes, (int)request.Stream.TensorCount);
        }
        return new LoadRangeReply { State = RangeLoadState.NeedsWeights, Message = "no local copy: send the range's tensors" };
    }

    public PendingRange TakePending(string hash)
    {
        lock (bookkeeping)
        {
            if (!pending.Remove(hash, out var range))
            {
                throw WorkerErrors.NotFound($"No LoadRange is waiting for weights of range {WorkerInput.Quote(hash)}; call LoadRange first.");
            }
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
            return Register(new HostedRange(range.Hash, range.FileName, file, range.Config, range.Layers,
                RangeTensors.ByteCount(tensors), Threads, "streamed weights", Options.WeightMemory), "loaded from streamed weights");
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public string CacheFile(string hash) => Path.Combine(Options.CacheDirectory, hash + ".gguf");

    public ReleaseRangeReply ReleaseRange(string hash)
    {
        HostedRange? freed = null;
        var closed = new List<HostedSession>();
        lock (bookkeeping)
        {
            pending.Remove(hash);
            if (ranges.TryGetValue(hash, out var range) && --range.Holders <= 0)
            {
                ranges.Remove(hash);
                freed = range;
                foreach (var session in sessions.Values.Where(s => s.Range == range).ToList())
                {
                    sessions.Remove(session.Id);
                    closed.Add(session);
                }
            }
        }
        lock (ComputeLock)
        {
            closed.ForEach(session => session.Dispose());
            freed?.Dispose();
        }
        return new ReleaseRangeReply { FreedBytes = (ulong)(freed?.WeightBytes ?? 0), ClosedSessions = (uint)closed.Count };
    }

    private IEnumerable<string> Candidates(string coordinatorPath, string fileName)
    {
        if (!string.IsNullOrEmpty(Options.ModelPath))
        {
            if (Directory.Exists(Options.ModelPath))
            {
                if (fileName.Length > 0)
                {
                    yield return Path.Combine(Options.ModelPath, fileName);
                }
            }
            else
            {
                yield return Options.ModelPath;
            }
            yield break;
        }
        if (!string.IsNullOrEmpty(coordinatorPath))
        {
            yield return coordinatorPath;
        }
    }

    private HostedRange? TryOpen(string path, string hash, string fileName, LlamaConfig config, LayerRange layers,
        List<string> mismatches, CancellationToken cancellationToken, string? source = null)
    {
        if (!File.Exists(path))
        {
            return null;
        }
        GgufFile file;
        try
        {
            file = GgufFile.Open(path);
        }
        catch (GgufFormatException exception)
        {
            mismatches.Add($"{WorkerInput.Quote(path)} is not a valid GGUF ({exception.Problem})");
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
                mismatches.Add($"layers {layers} of {WorkerInput.Quote(path)} hash to {actual[..12]}, the coordinator's to {hash[..12]}");
                file.Dispose();
                return null;
            }
            var bytes = RangeTensors.ByteCount(tensors);
            EnsureMemory((ulong)bytes);
            return new HostedRange(hash, fileName, file, config, layers, bytes, Threads, source ?? $"model file {path}", Options.WeightMemory);
        }
        catch (Exception exception) when (exception is UnsupportedModelException or GgufFormatException or ArgumentException or KeyNotFoundException)
        {
            file.Dispose();
            mismatches.Add($"{WorkerInput.Quote(path)} cannot run layers {layers}: {WorkerInput.Quote(exception.Message)}");
            return null;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private LoadRangeReply Register(HostedRange range, string message)
    {
        lock (bookkeeping)
        {
            if (ranges.TryGetValue(range.Hash, out var existing))
            {
                // Loaded concurrently by another cluster: keep one copy.
                existing.Holders++;
                range.Dispose();
                return new LoadRangeReply { State = RangeLoadState.Loaded, WeightBytes = (ulong)existing.WeightBytes, Message = "already loaded" };
            }
            ranges[range.Hash] = range;
        }
        return new LoadRangeReply { State = RangeLoadState.Loaded, WeightBytes = (ulong)range.WeightBytes, Message = message };
    }

    private void EnsureMemory(ulong bytes)
    {
        if (Options.MaxMemoryBytes > 0 && (long)bytes > FreeMemoryBytes)
        {
            throw WorkerErrors.OutOfMemory(
                $"The range needs {bytes:N0} bytes but this worker has {FreeMemoryBytes:N0} of its {Options.MaxMemoryBytes:N0}-byte limit free.");
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
        if (request.ContextSize > 1 << 20 || request.MaxBatchTokens > LlamaSession.MaxMicroBatch * 64)
        {
            throw WorkerErrors.Invalid($"context_size {request.ContextSize} or max_batch_tokens {request.MaxBatchTokens} is beyond what a worker accepts.");
        }
        long kvBytes = 2L * range.Layers.Count * request.ContextSize * range.Config.KvWidth * sizeof(ushort);
        EnsureMemory((ulong)kvBytes);
        var session = new HostedSession(request.SessionId, range, (int)request.ContextSize, (int)request.MaxBatchTokens, next);
        lock (bookkeeping)
        {
            if (!ranges.ContainsKey(range.Hash) || !sessions.TryAdd(session.Id, session))
            {
                session.Dispose();
                throw WorkerErrors.Precondition($"Session {request.SessionId} could not be opened (range released or id taken).");
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
        lock (ComputeLock)
        {
            session.Dispose();
        }
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

    private void CollectIdleSessions()
    {
        var limit = DateTime.UtcNow - Options.SessionIdleTimeout;
        List<string> idle;
        lock (bookkeeping)
        {
            idle = sessions.Values.Where(s => !s.Streaming && s.LastUsedUtc < limit).Select(s => s.Id).ToList();
        }
        idle.ForEach(id => CloseSession(id));
    }

    /// <summary>
    /// Opens the channel to a next stage: a real socket by default; tests route endpoint names to in-memory
    /// servers instead. Set before the first session forwards anywhere.
    /// </summary>
    internal Func<WorkerEndpoint, GrpcChannel> OpenPeerChannel { get; set; } = WorkerChannels.Open;

    /// <summary>A channel to the next stage, shared by every session that forwards there.</summary>
    public LlamaWorker.LlamaWorkerClient PeerClient(WorkerEndpoint endpoint) =>
        new(peers.GetOrAdd(endpoint.ToString(), _ => OpenPeerChannel(endpoint)));

    public void Dispose()
    {
        collector.Dispose();
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
        Threads.Dispose();
    }
}
