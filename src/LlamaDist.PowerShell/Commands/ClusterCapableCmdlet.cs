using System.Management.Automation;
using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Models;
using LlamaDist.PowerShell.Completion;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// A cmdlet that runs a model here (parameter set Local), split across workers for this call (Worker), or on a
/// cluster from New-LlamaCluster (Cluster): the parameters of the last two and the cluster lookup, shared.
/// </summary>
public abstract class ClusterCapableCmdlet : LlamaCmdlet
{
    protected const string LocalSet = "Local";
    protected const string WorkerSet = "Worker";
    protected const string ClusterSet = "Cluster";

    /// <summary>
    /// Local runs: where the weight matrices are read from. Auto (the default) reads them into memory backed by
    /// huge pages on Linux when they fit in half the available memory, else Mapped; Mapped reads the file mapping
    /// (llama.cpp's default mmap); Resident always reads them in (llama.cpp's --no-mmap, plus huge pages).
    /// </summary>
    /// <remarks>A string, not the engine's enum: PowerShell reads parameter types before the engine can be loaded.</remarks>
    [Parameter(ParameterSetName = LocalSet)]
    [ValidateSet(nameof(WeightMemoryMode.Auto), nameof(WeightMemoryMode.Mapped), nameof(WeightMemoryMode.Resident))]
    public string WeightMemory { get; set; } = nameof(WeightMemoryMode.Auto);

    /// <summary>
    /// Where the layers run: Auto (default; CUDA, then OpenCL, then the CPU engine, saying what it found in the verbose
    /// stream), Cpu, Cuda, OpenCL or IlgpuCpu (the device kernels on ILGPU's CPU accelerator, for checking them
    /// without a GPU). An explicit backend that cannot run here fails with ErrorId BackendUnavailable.
    /// </summary>
    /// <remarks>A string, not the engine's enum: PowerShell reads parameter types before the engine can be loaded.</remarks>
    [Parameter(ParameterSetName = LocalSet)]
    [ValidateSet(nameof(ComputeBackendMode.Auto), nameof(ComputeBackendMode.Cpu), nameof(ComputeBackendMode.Cuda), nameof(ComputeBackendMode.OpenCL), nameof(ComputeBackendMode.IlgpuCpu))]
    public string Backend { get; set; } = nameof(ComputeBackendMode.Auto);

    /// <summary>Workers to split the model across for this call (a cluster built and removed around it).</summary>
    [Parameter(Mandatory = true, ParameterSetName = WorkerSet)]
    [ArgumentCompleter(typeof(WorkerEndpointCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Worker { get; set; } = [];

    /// <summary>With -Worker: run the first layers in this process too.</summary>
    [Parameter(ParameterSetName = WorkerSet)]
    public SwitchParameter IncludeLocal { get; set; }

    /// <summary>With -Worker: Auto, Even, Memory, Tensor or layer counts per node.</summary>
    [Parameter(ParameterSetName = WorkerSet)]
    [ArgumentCompleter(typeof(SplitModeCompleter))]
    [ValidateNotNullOrEmpty]
    public string[]? Split { get; set; }

    /// <summary>
    /// With -Worker: what happens when a node fails mid-prompt. Reassign (default): its layers move to the remaining
    /// nodes (or this process with -IncludeLocal), the session's tokens are replayed, and generation goes on with the
    /// same output; None: the prompt fails naming the node, with the partial result on the error.
    /// </summary>
    [Parameter(ParameterSetName = WorkerSet)]
    [ValidateSet("Reassign", "None")]
    public string Failover { get; set; } = "Reassign";

    /// <summary>With -Worker: seconds a node may give no sign of life (health checks unanswered) before it counts as failed; 5 by default.</summary>
    [Parameter(ParameterSetName = WorkerSet)]
    [ValidateRange(0.1, 3600.0)]
    public double StageTimeout { get; set; } = 5;

    /// <summary>With -Worker: the cluster token the workers were started with (see also -TokenFile, LLAMADIST_TOKEN).</summary>
    [Parameter(ParameterSetName = WorkerSet)]
    public System.Security.SecureString? Token { get; set; }

    /// <summary>With -Worker: a file whose first line is the cluster token.</summary>
    [Parameter(ParameterSetName = WorkerSet)]
    [ValidateNotNullOrEmpty]
    public string? TokenFile { get; set; }

    /// <summary>With -Worker: SHA-256 thumbprints the workers' TLS certificates may have (https:// endpoints).</summary>
    [Parameter(ParameterSetName = WorkerSet)]
    [ValidateNotNullOrEmpty]
    public string[]? CertificateThumbprint { get; set; }

    /// <summary>A PFX file with the client certificate to present to workers that require one (mutual TLS).</summary>
    [Parameter(ParameterSetName = WorkerSet)]
    [ValidateNotNullOrEmpty]
    public string? ClientCertificatePath { get; set; }

    /// <summary>The password of the -ClientCertificatePath file.</summary>
    [Parameter(ParameterSetName = WorkerSet)]
    public System.Security.SecureString? ClientCertificatePassword { get; set; }

    /// <summary>The credentials for -Worker (see <see cref="WorkerCredentialResolver"/>).</summary>
    internal Engine.Workers.WorkerAccess WorkerCredentials() =>
        WorkerCredentialResolver.Resolve(Token, TokenFile, CertificateThumbprint, ClientCertificatePath, ClientCertificatePassword, Worker, ResolveSinglePath);

    /// <summary>A cluster from New-LlamaCluster, reused without reloading (or its Id).</summary>
    [Parameter(Mandatory = true, ParameterSetName = ClusterSet)]
    [ClusterTransformation]
    [ArgumentCompleter(typeof(ClusterIdCompleter))]
    [ValidateNotNull]
    public LlamaCluster? Cluster { get; set; }

    /// <summary>The engine's cluster behind -Cluster, or null with <paramref name="error"/> (ClusterNotFound) when it was removed.</summary>
    protected ClusterModel? ResolveCluster(out ErrorRecord? error)
    {
        try
        {
            error = null;
            return ClusterCmdletSupport.EngineCluster(Cluster!);
        }
        catch (ArgumentException exception)
        {
            error = new ErrorRecord(exception, ErrorIds.ClusterNotFound, ErrorCategory.ResourceUnavailable, Cluster);
            return null;
        }
    }
}
