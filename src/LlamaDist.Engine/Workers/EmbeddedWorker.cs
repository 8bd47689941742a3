using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Formatting;
using LlamaDist.Engine.Models;
using LlamaDist.Engine.Workers.Runtime;
using LlamaDist.Worker.Hosting;
using LlamaDist.Worker.Lifecycle;

namespace LlamaDist.Engine.Workers;

/// <summary>
/// A worker hosted inside this process (Start-LlamaWorker without -Detached): Kestrel and the worker service
/// run in the module's load context and live exactly as long as the process, or until disposed.
/// </summary>
public sealed class EmbeddedWorker : IDisposable
{
    private readonly WorkerHost host;

    private EmbeddedWorker(WorkerHost host) => this.host = host;

    public string Endpoint => host.Endpoint.ToString();

    /// <summary>SHA-256 thumbprint of the worker's TLS certificate; null when it serves cleartext.</summary>
    public string? CertificateThumbprint => host.CertificateThumbprint;

    public string Name => host.Name;

    public string WorkerId => host.WorkerId;

    public int Threads => host.Threads;

    /// <summary>The port its tensor-parallel shards link on.</summary>
    public int PeerPort => host.PeerPort;

    public long TotalMemoryBytes => host.TotalMemoryBytes;

    /// <summary>CPU, CUDA, OPENCL or ILGPUCPU.</summary>
    public string Backend => host.Backend;

    public int OpenSessions => host.SessionCount;

    public bool IsStopped { get; private set; }

    public static EmbeddedWorker Start(WorkerStartRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.CpuAffinity.Count > 0)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument,
                "A CPU affinity pins a worker's own process: start it with -Detached (a worker inside this PowerShell would pin PowerShell itself).",
                nameof(request.CpuAffinity));
        }
        var options = WorkerOptionsFor(request);
        // Before the host's types are touched: without ASP.NET Core they would fail to load with no useful message.
        RuntimeRequirements.EnsureEmbeddedWorkerHost();
        return ExceptionTranslation.Run($"{request.Address}:{request.Port}",
            () => new EmbeddedWorker(WorkerHost.StartAsync(options).GetAwaiter().GetResult()));
    }

    internal static WorkerOptions WorkerOptionsFor(WorkerStartRequest request)
    {
        if (request.Threads < 0 || request.MaxMemoryBytes < 0 || request.MaxCacheBytes < 0)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, "Threads, MaxMemory and MaxCacheSize must be 0 (automatic) or positive.", nameof(request.Threads));
        }
        if (request.MaxSessions < 0 || request.MaxContext < 0 || request.LeaseTimeout < TimeSpan.Zero)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, "MaxSessions, MaxContext and LeaseTimeout must be 0 (the default) or positive.", nameof(request.MaxSessions));
        }
        var affinity = ValidAffinity(request.CpuAffinity);
        var defaults = new WorkerOptions();
        var options = new WorkerOptions
        {
            Address = request.Address,
            Port = request.Port,
            PeerPort = request.PeerPort,
            Threads = request.Threads > 0 ? request.Threads
                : affinity.Length > 0 ? Math.Min(affinity.Length, CpuTopology.PhysicalCoreCount) : CpuTopology.PhysicalCoreCount,
            CpuAffinity = affinity,
            Name = request.Name,
            ModelPath = string.IsNullOrEmpty(request.ModelPath) ? null : Path.GetFullPath(request.ModelPath),
            MaxMemoryBytes = request.MaxMemoryBytes,
            MaxCacheBytes = request.MaxCacheBytes > 0 ? request.MaxCacheBytes : WorkerOptions.DefaultMaxCacheBytes,
            MaxSessions = request.MaxSessions > 0 ? request.MaxSessions : defaults.MaxSessions,
            MaxContext = request.MaxContext > 0 ? request.MaxContext : defaults.MaxContext,
            LeaseTimeout = request.LeaseTimeout > TimeSpan.Zero ? request.LeaseTimeout : defaults.LeaseTimeout,
            WeightMemory = request.WeightMemory.ToCore(),
            Backend = request.Backend.ToCore(),
            Token = string.IsNullOrEmpty(request.Token) ? null : ValidToken(request.Token),
            AllowInsecure = request.AllowInsecure,
            CertificatePath = string.IsNullOrEmpty(request.CertificatePath) ? null : Path.GetFullPath(request.CertificatePath),
            CertificateKeyPath = string.IsNullOrEmpty(request.CertificateKeyPath) ? null : Path.GetFullPath(request.CertificateKeyPath),
            CertificatePassword = request.CertificatePassword,
            TrustedClientThumbprints = ValidThumbprints(request.TrustedClientThumbprints),
            AdvertiseAddress = ValidAdvertiseAddress(request.AdvertiseAddress),
        };
        return string.IsNullOrEmpty(request.CacheDirectory) ? options : options with { CacheDirectory = Path.GetFullPath(request.CacheDirectory) };
    }

    /// <summary>Checked here, on the machine the worker will run on, so a bad set fails before a process starts.</summary>
    private static int[] ValidAffinity(IReadOnlyList<int> cpus)
    {
        if (cpus.Count == 0)
        {
            return [];
        }
        var problem = cpus.Any(cpu => cpu is < 0 or > ProcessorAffinity.MaxCpu)
            ? $"CPU numbers run from 0 to {ProcessorAffinity.MaxCpu}."
            : ProcessorAffinity.Problem(cpus);
        return problem is null ? cpus.Distinct().Order().ToArray()
            : throw new LlamaDistException(LlamaErrorKind.InvalidArgument, problem, "CpuAffinity");
    }

    private static string? ValidAdvertiseAddress(string? address)
    {
        if (string.IsNullOrWhiteSpace(address))
        {
            return null;
        }
        var host = address.Trim();
        if (Uri.CheckHostName(host) is not (UriHostNameType.Dns or UriHostNameType.IPv4 or UriHostNameType.IPv6))
        {
            var shown = host.Length > 100 ? host[..100] + "..." : host;
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"'{shown}' is not a host name or address others can dial.", "AdvertiseAddress");
        }
        return host;
    }

    private static string[] ValidThumbprints(IReadOnlyList<string> thumbprints)
    {
        try
        {
            return thumbprints.Select(Distributed.Security.CertificatePins.Normalize).Distinct().ToArray();
        }
        catch (ArgumentException exception)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, exception.Message, "ClientCertificateThumbprint", exception);
        }
    }

    private static string ValidToken(string token)
    {
        try
        {
            return Distributed.Security.ClusterToken.Validate(token, "-Token");
        }
        catch (ArgumentException exception)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, exception.Message, "Token", exception);
        }
    }

    public void Dispose()
    {
        if (IsStopped)
        {
            return;
        }
        IsStopped = true;
        host.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
