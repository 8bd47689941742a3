using System.Management.Automation;
using System.Net;
using LlamaDist.Engine.Formatting;
using LlamaDist.Engine.Models;
using LlamaDist.Engine.Workers;
using LlamaDist.PowerShell.Completion;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Starts a LlamaDist worker that runs layer ranges for clusters.</para>
/// <para type="description">Without -Detached the worker is hosted inside this PowerShell process and stops with
/// it (or with Stop-LlamaWorker). With -Detached the module starts its LlamaDist.Worker executable in a session
/// of its own (no terminal: Ctrl+C and closing the console do not stop it), logging to -LogPath, waits until it
/// listens, and the worker outlives this session (for remoting); Get-LlamaWorker and Stop-LlamaWorker in any later
/// session of the same user find it. Bound to 0.0.0.0 or ::, the worker advertises an address others can dial
/// (the first non-loopback interface address, or -AdvertiseAddress), and the object returned pipes straight into
/// New-LlamaCluster.</para>
/// <example><code>$w1 = Start-LlamaWorker -Port 50052; $w2 = Start-LlamaWorker -Port 50053 -Threads 1</code></example>
/// <example><code>$shards = 0, 1 | ForEach-Object { Start-LlamaWorker -Port 0 -Detached -CpuAffinity $_ }; New-LlamaCluster -Model ./tiny.gguf -Worker $shards.Endpoint -Split Tensor</code></example>
/// <example><code>Invoke-Command -ComputerName pc1 { Import-Module LlamaDist; Start-LlamaWorker -Address 0.0.0.0 -Detached -TokenFile ~/.llamadist/cluster.token }</code></example>
/// <example><code>Invoke-Command -HostName pc1 -UserName me { Import-Module LlamaDist; Start-LlamaWorker -Address 0.0.0.0 -Detached -TokenFile ~/.llamadist/cluster.token }</code></example>
/// <example><code>Start-LlamaWorker -Address 0.0.0.0 -TokenFile ./cluster.token -Detached | New-LlamaCluster -Model ./tiny.gguf -TokenFile ./cluster.token</code></example>
/// <example><code>$cert = New-LlamaWorkerCertificate -Path ~/.llamadist/worker.pfx; Start-LlamaWorker -Address 0.0.0.0 -TokenFile ./cluster.token -CertificatePath $cert.Path</code></example>
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "LlamaWorker", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(LlamaWorker))]
public sealed class StartLlamaWorkerCommand : LlamaCmdlet
{
    /// <summary>TCP port; 0 picks a free one.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0, 65535)]
    public int Port { get; set; } = 50052;

    /// <summary>
    /// TCP port the shards of a tensor split link to each other on (same address); 0, the default, picks a free
    /// one. Give a fixed one when a firewall must let it through.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0, 65535)]
    public int PeerPort { get; set; }

    /// <summary>Address to listen on; loopback by default.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>Compute threads; physical cores when omitted (with -CpuAffinity, one per CPU listed, at most the physical cores).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateRange(1, 1024)]
    public int Threads { get; set; }

    /// <summary>
    /// With -Detached: the logical CPUs the worker's process runs on (e.g. 0,1 or (2..3)), as taskset -c does, so
    /// workers sharing a machine, or a worker beside other work, each keep cores of their own. With a CPU listed for
    /// each compute thread, each compute thread runs on one of them. Linux and Windows.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateCount(1, 1024)]
    [ValidateRange(0, 1023)]
    public int[]? CpuAffinity { get; set; }

    /// <summary>The worker's name (the host name when omitted).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <summary>A GGUF file, or a directory of them, the worker loads its layers from (instead of receiving them).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(ModelPathCompleter))]
    [ValidateNotNullOrEmpty]
    public string? ModelPath { get; set; }

    /// <summary>Where layers streamed to the worker are kept, by content hash.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CacheDirectory { get; set; }

    /// <summary>Most bytes of weights and KV caches the worker holds (e.g. 8GB); the memory free at start when omitted.</summary>
    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long MaxMemory { get; set; }

    /// <summary>Most bytes of streamed layers the cache keeps (e.g. 64GB); least recently used ones are deleted first. 32 GiB when omitted.</summary>
    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long MaxCacheSize { get; set; }
    /// <summary>Sessions (prompts in progress, all coordinators together) the worker holds at once; 64 when omitted.</summary>
    [Parameter]
    [ValidateRange(1, 65536)]
    public int MaxSessions { get; set; }

    /// <summary>Most tokens one session's context may hold (also capped by the model's training context); 32768 when omitted.</summary>
    [Parameter]
    [ValidateRange(1, 1 << 24)]
    public int MaxContext { get; set; }

    /// <summary>
    /// How long a coordinator's layers and sessions stay after its last call: a coordinator renews in the
    /// background while its cluster lives, so this bounds what one that died leaves behind. 90 seconds when omitted.
    /// </summary>
    [Parameter]
    [ValidateRange(1, 86400)]
    public int LeaseTimeout { get; set; }

    /// <summary>
    /// Where the worker reads its layers' weight matrices from: Auto (default; resident in huge pages when they fit
    /// in half the available memory), Mapped or Resident, as for Invoke-LlamaPrompt.
    /// </summary>
    [Parameter]
    [ValidateSet(nameof(WeightMemoryMode.Auto), nameof(WeightMemoryMode.Mapped), nameof(WeightMemoryMode.Resident))]
    public string WeightMemory { get; set; } = nameof(WeightMemoryMode.Auto);

    /// <summary>
    /// Where the worker runs its layers: Auto (default; CUDA, then OpenCL, then the CPU engine), Cpu, Cuda, OpenCL or
    /// IlgpuCpu. The worker reports the backend, device and device memory in Get-LlamaWorker and to the planner.
    /// </summary>
    [Parameter]
    [ValidateSet(nameof(ComputeBackendMode.Auto), nameof(ComputeBackendMode.Cpu), nameof(ComputeBackendMode.Cuda), nameof(ComputeBackendMode.OpenCL), nameof(ComputeBackendMode.IlgpuCpu))]
    public string Backend { get; set; } = nameof(ComputeBackendMode.Auto);

    /// <summary>Run the worker as its own process that outlives this session.</summary>
    [Parameter]
    public SwitchParameter Detached { get; set; }

    /// <summary>
    /// With -Detached: the worker's log file, rotated at 10 MiB with 3 files kept. By default
    /// $XDG_STATE_HOME/llamadist/workers/&lt;port&gt;.log (~/.local/state/... without XDG_STATE_HOME;
    /// %LOCALAPPDATA%\llamadist\workers on Windows).
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? LogPath { get; set; }

    /// <summary>The host name or address others dial when -Address is 0.0.0.0 or :: (by default the first non-loopback interface address).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? AdvertiseAddress { get; set; }

    /// <summary>
    /// The cluster secret every call to the worker must carry (coordinators and the other workers use the same).
    /// Required to listen beyond loopback, unless -AllowInsecure. Also -TokenFile, or LLAMADIST_TOKEN.
    /// </summary>
    [Parameter]
    public System.Security.SecureString? Token { get; set; }

    /// <summary>A file whose first line is the cluster token (for scripts and services).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? TokenFile { get; set; }

    /// <summary>Listen beyond loopback without a token: anyone who can reach the port can use the worker.</summary>
    [Parameter]
    public SwitchParameter AllowInsecure { get; set; }

    /// <summary>Serve HTTPS (HTTP/2 over TLS) with this certificate: a PFX file (New-LlamaWorkerCertificate makes one) or a PEM certificate.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CertificatePath { get; set; }

    /// <summary>The private key of a PEM -CertificatePath.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CertificateKeyPath { get; set; }

    /// <summary>The password of the PFX file (or of an encrypted PEM key).</summary>
    [Parameter]
    public System.Security.SecureString? CertificatePassword { get; set; }

    /// <summary>Mutual TLS: callers must present a client certificate with one of these SHA-256 thumbprints (needs -CertificatePath).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? ClientCertificateThumbprint { get; set; }

    protected override void ProcessRecord()
    {
        if (!ShouldProcess($"{Address}:{Port}", Detached ? "Start detached LlamaDist worker" : "Start LlamaDist worker"))
        {
            return;
        }
        if (!IsLoopback(Address) && AllowInsecure)
        {
            WriteWarning($"The worker listens on {Address} without a cluster token (-AllowInsecure): anyone who can reach this port can use it.");
        }
        RunEngine(() =>
        {
            var token = WorkerCredentialResolver.ResolveToken(Token, TokenFile, ResolveSinglePath)
                ?? (Environment.GetEnvironmentVariable(WorkerCredentialResolver.TokenVariable) is { Length: > 0 } variable ? variable : null);
            var request = new WorkerStartRequest
            {
                Address = Address,
                Port = Port,
                PeerPort = PeerPort,
                Threads = Threads,
                CpuAffinity = CpuAffinity ?? [],
                Name = Name,
                ModelPath = ModelPath is null ? null : ResolveSinglePath(ModelPath),
                CacheDirectory = CacheDirectory is null ? null : ResolveSinglePath(CacheDirectory),
                MaxMemoryBytes = MaxMemory,
                MaxCacheBytes = MaxCacheSize,
                MaxSessions = MaxSessions,
                MaxContext = MaxContext,
                LeaseTimeout = TimeSpan.FromSeconds(LeaseTimeout),
                WeightMemory = Enum.Parse<WeightMemoryMode>(WeightMemory),
                Backend = Enum.Parse<ComputeBackendMode>(Backend),
                Token = token,
                AllowInsecure = AllowInsecure,
                CertificatePath = CertificatePath is null ? null : ResolveSinglePath(CertificatePath),
                CertificateKeyPath = CertificateKeyPath is null ? null : ResolveSinglePath(CertificateKeyPath),
                CertificatePassword = WorkerCredentialResolver.PlainText(CertificatePassword),
                TrustedClientThumbprints = ClientCertificateThumbprint ?? [],
                AdvertiseAddress = AdvertiseAddress,
                LogPath = LogPath is null ? null : GetUnresolvedProviderPathFromPSPath(LogPath),
            };
            LlamaWorker worker;
            if (Detached)
            {
                worker = StartDetached(request, token);
            }
            else
            {
                var host = EmbeddedWorker.Start(request);
                worker = new LlamaWorker
                {
                    Name = host.Name, Endpoint = host.Endpoint, ProcessId = Environment.ProcessId, Backend = host.Backend, Threads = host.Threads,
                    PeerPort = host.PeerPort,
                    MemoryBytes = host.TotalMemoryBytes, Memory = HumanReadable.Bytes(host.TotalMemoryBytes), Detached = false,
                    WorkerId = host.WorkerId, Started = DateTime.Now, Host = host,
                    CertificateThumbprint = host.CertificateThumbprint, Token = token,
                };
            }
            SessionRegistry.Add(worker);
            WriteObject(worker);
        }, $"{Address}:{Port}");
    }

    /// <summary>
    /// Starts the worker process and checks it over loopback (a wildcard address cannot be dialled); if the check
    /// fails the process is stopped before the error is reported, so no orphan is left running.
    /// </summary>
    private LlamaWorker StartDetached(WorkerStartRequest request, string? token)
    {
        var started = DetachedWorker.Start(request, CancellationToken);
        WorkerStatusInfo status;
        try
        {
            // Checked with the worker's own certificate as client certificate: a worker requiring client
            // certificates trusts its own.
            status = WorkerInspector.Query(started.LocalEndpoint, new WorkerAccess
            {
                Token = token, CertificateThumbprints = started.CertificateThumbprint is null ? [] : [started.CertificateThumbprint],
                ClientCertificatePath = request.TrustedClientThumbprints.Count > 0 && request.CertificateKeyPath is null ? request.CertificatePath : null,
                ClientCertificatePassword = request.CertificatePassword,
            }, CancellationToken);
        }
        catch
        {
            DetachedWorkerStopper.Stop(started.ProcessId, started.ProcessStartTime);
            throw;
        }
        return new LlamaWorker
        {
            Name = status.Name, Endpoint = started.Endpoint, ProcessId = started.ProcessId, Backend = status.Backend, Threads = status.Threads,
            PeerPort = started.PeerPort,
            MemoryBytes = status.TotalMemoryBytes, Memory = HumanReadable.Bytes(status.TotalMemoryBytes), Detached = true,
            WorkerId = started.WorkerId, Started = DateTime.Now, ProcessStartTime = started.ProcessStartTime,
            CertificateThumbprint = started.CertificateThumbprint, Token = token, LogPath = started.LogPath,
        };
    }

    private static bool IsLoopback(string address) =>
        address.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(address, out var ip) && IPAddress.IsLoopback(ip));
}
