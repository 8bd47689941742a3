namespace LlamaDist.Engine.Workers;

/// <summary>Start-LlamaWorker's settings (see the worker executable's options for their meaning).</summary>
public sealed class WorkerStartRequest
{
    public string Address { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 50052;
    /// <summary>The port tensor-parallel shards link on; 0: a free one.</summary>
    public int PeerPort { get; init; }
    /// <summary>0: one per physical core, or per CPU of <see cref="CpuAffinity"/>.</summary>
    public int Threads { get; init; }
    /// <summary>The logical CPUs a detached worker's process is pinned to; empty: not pinned.</summary>
    public IReadOnlyList<int> CpuAffinity { get; init; } = [];
    public string? Name { get; init; }
    public string? ModelPath { get; init; }
    public string? CacheDirectory { get; init; }
    /// <summary>Most bytes of streamed ranges kept in the cache; 0: the worker's default (32 GiB).</summary>
    public long MaxCacheBytes { get; init; }
    /// <summary>0: the memory free when the worker starts.</summary>
    public long MaxMemoryBytes { get; init; }
    /// <summary>Sessions open at once; 0: the worker's default.</summary>
    public int MaxSessions { get; init; }
    /// <summary>Most tokens of one session's context; 0: the worker's default.</summary>
    public int MaxContext { get; init; }
    /// <summary>How long a coordinator's ranges and sessions outlive its last call or renewal; zero: the worker's default.</summary>
    public TimeSpan LeaseTimeout { get; init; }
    /// <summary>Where hosted ranges' weight matrices are read from.</summary>
    public LlamaDist.Engine.Models.WeightMemoryMode WeightMemory { get; init; }
    /// <summary>Where hosted ranges run; Auto: CUDA, then OpenCL, then the CPU engine.</summary>
    public LlamaDist.Engine.Models.ComputeBackendMode Backend { get; init; } = LlamaDist.Engine.Models.ComputeBackendMode.Cpu;
    /// <summary>The cluster token every call must carry; null: none (loopback only, unless <see cref="AllowInsecure"/>).</summary>
    public string? Token { get; init; }
    public bool AllowInsecure { get; init; }
    /// <summary>TLS: a PFX file, or a PEM certificate with <see cref="CertificateKeyPath"/>.</summary>
    public string? CertificatePath { get; init; }
    public string? CertificateKeyPath { get; init; }
    public string? CertificatePassword { get; init; }
    /// <summary>The host others dial when bound to 0.0.0.0 or ::; null: the first non-loopback interface address, else the host name.</summary>
    public string? AdvertiseAddress { get; init; }
    /// <summary>A detached worker's log file; null: <see cref="DetachedWorker.DefaultLogPath"/>.</summary>
    public string? LogPath { get; init; }
    /// <summary>Mutual TLS: the SHA-256 thumbprints of the client certificates callers must present.</summary>
    public IReadOnlyList<string> TrustedClientThumbprints { get; init; } = [];
}
