using LlamaDist.Core.Model;
using LlamaDist.Distributed.Client;

namespace LlamaDist.Worker.Hosting;

/// <summary>How a worker runs; the same options back Start-LlamaWorker and the executable's command line.</summary>
public sealed record WorkerOptions
{
    /// <summary>Address to bind: loopback by default; anything else is reachable from the network.</summary>
    public string Address { get; init; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one (the bound port is reported once started).</summary>
    public int Port { get; init; } = WorkerEndpoint.DefaultPort;

    /// <summary>
    /// TCP port of the links between tensor-parallel shards (on <see cref="Address"/>); 0 picks a free one. Fix it
    /// when a firewall stands between workers: the shards of a tensor split link to each other's peer port.
    /// </summary>
    public int PeerPort { get; init; }

    /// <summary>Compute threads; 0 means one per physical core (one per CPU of <see cref="CpuAffinity"/> when set).</summary>
    public int Threads { get; init; }

    /// <summary>
    /// The logical CPUs the worker's process runs on (see <see cref="Lifecycle.ProcessorAffinity"/>); empty: any the
    /// system gives it. With at least one CPU per compute thread, each compute thread runs on one of them
    /// (<see cref="Core.Quantization.ComputeThreads"/>, pinned).
    /// </summary>
    public IReadOnlyList<int> CpuAffinity { get; init; } = [];

    /// <summary>Name shown in listings; the host name by default.</summary>
    public string? Name { get; init; }

    /// <summary>
    /// Where this worker's own GGUF files are: a file or a directory searched by file name. When set, only it
    /// (and the cache) are used; when not, the worker also tries the path the coordinator names.
    /// </summary>
    public string? ModelPath { get; init; }

    /// <summary>Where streamed ranges are stored by hash.</summary>
    public string CacheDirectory { get; init; } = DefaultCacheDirectory;

    /// <summary>
    /// Most bytes of weights and KV caches the worker will hold; 0 means what was free when the worker started
    /// (see <see cref="AdmissionLimits"/>), so a worker never promises memory the machine does not have.
    /// </summary>
    public long MaxMemoryBytes { get; init; }

    /// <summary>Sessions open at once (every coordinator together); more are refused with ResourceExhausted.</summary>
    public int MaxSessions { get; init; } = DefaultMaxSessions;

    /// <summary>Most tokens one session's context may hold (also capped by the model's training context).</summary>
    public int MaxContext { get; init; } = DefaultMaxContext;

    /// <summary>
    /// Tokens evaluated per micro-batch: a longer Forward step is cut into micro-batches of this many tokens and
    /// other sessions' steps run in between, so one long prompt delays another session by one micro-batch at most.
    /// </summary>
    public int MaxStepTokens { get; init; } = DefaultMaxStepTokens;

    /// <summary>
    /// How long the ranges and sessions of a coordinator live after its last call (LoadRange, OpenSession,
    /// RenewLease...): a coordinator that exits or freezes without releasing them leaks nothing beyond this.
    /// </summary>
    public TimeSpan LeaseTimeout { get; init; } = DefaultLeaseTimeout;

    public const int DefaultMaxSessions = 64;

    public const int DefaultMaxContext = 32768;

    /// <summary>llama.cpp's default n_ubatch, and the activation buffers' micro-batch (LlamaSession.MaxMicroBatch).</summary>
    public const int DefaultMaxStepTokens = 512;

    public static readonly TimeSpan DefaultLeaseTimeout = TimeSpan.FromSeconds(90);

    /// <summary>Where hosted ranges' weight matrices are read from (Auto: resident in huge pages when they fit).</summary>
    public WeightMemory WeightMemory { get; init; } = WeightMemory.Auto;

    /// <summary>
    /// Where hosted ranges run: the CPU engine (the default for workers built in code), or ILGPU on CUDA, OpenCL or
    /// its CPU accelerator; Auto picks CUDA, then OpenCL, then the CPU (the worker executable's default).
    /// </summary>
    public LlamaDist.Core.Backends.ComputeBackendChoice Backend { get; init; } = LlamaDist.Core.Backends.ComputeBackendChoice.Cpu;

    /// <summary>Most bytes of streamed ranges kept in <see cref="CacheDirectory"/>; least recently used ones go first.</summary>
    public long MaxCacheBytes { get; init; } = DefaultMaxCacheBytes;

    /// <summary>32 GiB: a few models' worth of ranges; the disk's free space is checked as well.</summary>
    public const long DefaultMaxCacheBytes = 32L << 30;

    /// <summary>A LoadRange answered NEEDS_WEIGHTS is forgotten when no weight stream starts within this time.</summary>
    public TimeSpan PendingLoadTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>At most this many ranges wait for weights at once; more are refused (RESOURCE_EXHAUSTED).</summary>
    public int MaxPendingLoads { get; init; } = 16;

    /// <summary>Sessions with no step for this long are closed and their caches freed.</summary>
    public TimeSpan SessionIdleTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// The cluster secret every call must carry; null: no authentication, which only loopback addresses (or
    /// <see cref="AllowInsecure"/>) accept.
    /// </summary>
    public string? Token { get; init; }

    /// <summary>Listen on a non-loopback address without a token (a warning is logged).</summary>
    public bool AllowInsecure { get; init; }

    /// <summary>Serve HTTPS with this certificate: a PFX/PKCS#12 file, or a PEM certificate with <see cref="CertificateKeyPath"/>.</summary>
    public string? CertificatePath { get; init; }

    /// <summary>The PEM private key of a PEM <see cref="CertificatePath"/>.</summary>
    public string? CertificateKeyPath { get; init; }

    /// <summary>Password of the PFX file (or of an encrypted PEM key).</summary>
    public string? CertificatePassword { get; init; }

    /// <summary>
    /// Mutual TLS: when not empty, callers must present a client certificate whose SHA-256 thumbprint is one of
    /// these (coordinators' certificates, and the other workers' own certificates, which they present when they
    /// forward). Needs <see cref="CertificatePath"/>.
    /// </summary>
    public IReadOnlyList<string> TrustedClientThumbprints { get; init; } = [];

    /// <summary>No console log (the executable still prints its ready line).</summary>
    public bool Quiet { get; init; }

    /// <summary>
    /// The host others dial when the worker is bound to a wildcard (0.0.0.0, ::); null: the first non-loopback
    /// interface address, else the host name (see <see cref="Lifecycle.AdvertisedAddress"/>).
    /// </summary>
    public string? AdvertiseAddress { get; init; }

    /// <summary>Log to this file (rotated at <see cref="LogMaxBytes"/>, <see cref="LogFiles"/> files kept) instead of the console.</summary>
    public string? LogFile { get; init; }

    public long LogMaxBytes { get; init; } = Lifecycle.RotatingLogFile.DefaultMaxBytes;

    public int LogFiles { get; init; } = Lifecycle.RotatingLogFile.DefaultMaxFiles;

    /// <summary>Where the executable records itself while it runs (&lt;pid&gt;.json); null: no record.</summary>
    public string? StateDirectory { get; init; }

    /// <summary>Leave the starter's session and terminal (setsid, standard handles on /dev/null): a detached worker.</summary>
    public bool Detach { get; init; }

    /// <summary>~/.cache/llamadist/ranges (XDG_CACHE_HOME honoured), or LocalApplicationData on Windows.</summary>
    public static string DefaultCacheDirectory
    {
        get
        {
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var root = !string.IsNullOrEmpty(xdg) ? xdg
                : OperatingSystem.IsWindows() ? Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData)
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(root, "llamadist", "ranges");
        }
    }

    /// <summary>The record's printed form, with the secrets left out (options end up in logs and error messages).</summary>
    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append($"Address = {Address}, Port = {Port}, Threads = {Threads}, CpuAffinity = {Lifecycle.ProcessorAffinity.Format(CpuAffinity)}, Name = {Name}, ModelPath = {ModelPath}, ");
        builder.Append($"CacheDirectory = {CacheDirectory}, MaxCacheBytes = {MaxCacheBytes}, MaxMemoryBytes = {MaxMemoryBytes}, WeightMemory = {WeightMemory}, Backend = {Backend}, ");
        builder.Append($"MaxSessions = {MaxSessions}, MaxContext = {MaxContext}, MaxStepTokens = {MaxStepTokens}, LeaseTimeout = {LeaseTimeout}, ");
        builder.Append($"Token = {(Token is null ? "none" : "(set)")}, AllowInsecure = {AllowInsecure}, CertificatePath = {CertificatePath}, ");
        builder.Append($"TrustedClientThumbprints = {TrustedClientThumbprints.Count}, AdvertiseAddress = {AdvertiseAddress}, LogFile = {LogFile}, ");
        builder.Append($"StateDirectory = {StateDirectory}, Detach = {Detach}");
        return true;
    }
}
