# Help for Start-LlamaWorker (format: README.md in this folder).
@{
    Synopsis    = 'Starts a LlamaDist worker that runs layer ranges of models for clusters.'
    Description = @'
A worker lends this machine's CPU to clusters: New-LlamaCluster (or -Worker on the generating cmdlets) loads a
range of a model's layers on it, and each token's hidden state passes through it on the way round the ring.
Without -Detached the worker is hosted inside this PowerShell process and stops with it (or with
Stop-LlamaWorker). With -Detached the module starts its LlamaDist.Worker executable in a session of its own (no
terminal: Ctrl+C and closing the console do not stop it), logging to -LogPath; it outlives this session, so it
suits remoting, and Get-LlamaWorker and Stop-LlamaWorker in any later session of the same user find it.

A worker listens on 127.0.0.1 unless told otherwise. Beyond loopback every call must carry the cluster token
(-Token, -TokenFile or LLAMADIST_TOKEN; -AllowInsecure opts out), and -CertificatePath serves HTTPS, with
-ClientCertificateThumbprint for mutual TLS. Bound to 0.0.0.0 or ::, the worker advertises an address others can
dial (the first non-loopback interface address, or -AdvertiseAddress), and the object returned pipes straight
into New-LlamaCluster. The limits (-MaxSessions, -MaxContext, -MaxMemory, -MaxCacheSize, -LeaseTimeout) bound
what any one coordinator can take from a worker that several share.

The embedded worker needs the ASP.NET Core shared runtime (Microsoft.AspNetCore.App 10.0) beside the .NET
runtime PowerShell runs on; -Detached needs a dotnet host (on PATH or under DOTNET_ROOT) with the .NET and
ASP.NET Core 10 runtimes. Without them the cmdlet stops with ErrorId RuntimeMissing, naming what to install.
'@
    Parameters  = @{
        Backend                   = 'Where the layers run: Auto (CUDA, then OpenCL, then the CPU engine; -Verbose says why), Cpu, Cuda, OpenCL or IlgpuCpu (the GPU kernels on ILGPU''s CPU accelerator). An explicit backend this machine lacks fails with BackendUnavailable.'
        Port                        = 'The TCP port to listen on; 0 picks a free one (the Endpoint of the result says which).'
        PeerPort                    = 'The TCP port (on the same address) the shards of a tensor or hybrid split link to each other on, to exchange their partial sums. 0, the default, picks a free one; give a fixed one where a firewall must let the other workers reach it.'
        Address                     = 'The address to listen on: 127.0.0.1 (the default) or ::1 for this machine only; 0.0.0.0 or :: for every interface (then a cluster token is required).'
        Threads                     = 'Compute threads of the worker. The number of physical cores when omitted; with -CpuAffinity, one per CPU listed (at most the physical cores).'
        CpuAffinity                 = 'With -Detached: the logical CPUs the worker''s process runs on, every thread of it (0,1 or (2..3)), as taskset -c does. Workers sharing a machine, such as the shards of a tensor split, then each keep cores of their own instead of being moved onto each other''s. A CPU this session may not run on fails with InvalidArgument before the worker starts. Linux and Windows (the first 64 CPUs); refused elsewhere and without -Detached.'
        Name                        = 'A name for the worker, shown by Get-LlamaWorker and in cluster plans. The worker makes one up from the host name and port when omitted.'
        ModelPath                   = 'A GGUF file, or a directory of them, the worker loads its layers from (verified by a SHA-256 of its range) instead of receiving them over the network. Files outside it are never opened.'
        CacheDirectory              = 'Where layer ranges streamed to the worker are kept, by content hash, so the next cluster loads them from disk.'
        MaxMemory                   = 'The most bytes of weights and KV caches the worker holds (8GB, for instance); a range or session beyond it is refused. The memory free when the worker starts, when omitted.'
        MaxCacheSize                = 'The most bytes of streamed layers the cache keeps (64GB, for instance); least recently used ranges are deleted first. 32 GiB when omitted.'
        MaxSessions                 = 'Sessions (prompts in progress, of all coordinators together) the worker holds at once. 64 when omitted.'
        MaxContext                  = 'The most tokens one session''s context may hold (also capped by the model''s training context). 32768 when omitted.'
        LeaseTimeout                = 'Seconds a coordinator''s layers and sessions stay after its last call: a live cluster renews in the background, so this bounds what one that died leaves behind. 90 when omitted.'
        WeightMemory                = 'Where the worker reads its layers'' weight matrices from: Auto (resident in huge pages when they fit in half the available memory), Mapped or Resident, as for Invoke-LlamaPrompt.'
        Detached                    = 'Runs the worker as its own process that outlives this session (its own session, no terminal, standard handles on /dev/null).'
        LogPath                     = 'With -Detached: the worker''s log file, rotated at 10 MiB with 3 files kept. By default $XDG_STATE_HOME/llamadist/workers/<port>.log (~/.local/state/... without XDG_STATE_HOME; %LOCALAPPDATA%\llamadist\workers on Windows).'
        AdvertiseAddress            = 'The host name or address others dial when -Address is 0.0.0.0 or ::. The first non-loopback interface address when omitted.'
        Token                       = 'The cluster secret every call to the worker must carry (coordinators use the same). Required to listen beyond loopback, unless -AllowInsecure. Also -TokenFile, or LLAMADIST_TOKEN.'
        TokenFile                   = 'A file whose first line is the cluster token (for scripts and services; keep it readable by its owner only).'
        AllowInsecure               = 'Listens beyond loopback without a token: anyone who can reach the port can use the worker. A warning says so.'
        CertificatePath             = 'Serves HTTPS (HTTP/2 over TLS) with this certificate: a PFX file (New-LlamaWorkerCertificate makes one) or a PEM certificate.'
        CertificateKeyPath          = 'The private key of a PEM -CertificatePath.'
        CertificatePassword         = 'The password of the PFX file (or of an encrypted PEM key).'
        ClientCertificateThumbprint = 'Mutual TLS: callers must present a client certificate with one of these SHA-256 thumbprints (needs -CertificatePath).'
    }
    Examples    = @(
        @{
            Title   = 'Two workers on this machine, then a cluster over them'
            Code    = @'
$w1 = Start-LlamaWorker -Port 50052 -Threads 2
$w2 = Start-LlamaWorker -Port 50053 -Threads 2
$cluster = New-LlamaCluster -Worker $w1, $w2
'@
            Remarks = 'Both workers are hosted in this process and listen on 127.0.0.1; the cluster splits the embedded model across them.'
        }
        @{
            Title   = 'A worker on another machine, through remoting, that outlives the session'
            Code    = @'
Invoke-Command -HostName pc1 -UserName me {
    Import-Module LlamaDist
    Start-LlamaWorker -Address 0.0.0.0 -Detached -TokenFile ~/.llamadist/cluster.token }
'@
            Remarks = 'SSH remoting on Linux and macOS (Invoke-Command -ComputerName for WinRM on Windows). The worker keeps running after the remoting session closes.'
        }
        @{
            Title   = 'A detached worker piped into a cluster'
            Code    = 'Start-LlamaWorker -Address 0.0.0.0 -Detached -TokenFile ./cluster.token | New-LlamaCluster -Model ./model.gguf -TokenFile ./cluster.token'
        }
        @{
            Title   = 'Two tensor-split shards on one machine, each on a core of its own'
            Code    = @'
$shards = 0, 1 | ForEach-Object { Start-LlamaWorker -Port 0 -Detached -CpuAffinity $_ }
New-LlamaCluster -Model ./model.gguf -Worker $shards.Endpoint -Split Tensor
'@
            Remarks = 'Each worker runs one compute thread on its own CPU; without the affinity the scheduler may move a shard onto the core its peer computes on while it waits for a partial sum.'
        }
        @{
            Title   = 'HTTPS with a self-signed certificate'
            Code    = @'
$cert = New-LlamaWorkerCertificate -Path ~/.llamadist/worker.pfx
Start-LlamaWorker -Address 0.0.0.0 -TokenFile ./cluster.token -CertificatePath $cert.Path
'@
            Remarks = 'Coordinators pin the certificate with -CertificateThumbprint $cert.Thumbprint.'
        }
    )
    Links       = @('Stop-LlamaWorker', 'Get-LlamaWorker', 'New-LlamaCluster', 'New-LlamaWorkerCertificate', 'about_LlamaDist_Distributed')
    Online      = 'README.md#distributed-inference'
}
