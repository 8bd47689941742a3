using System.Management.Automation;
using LlamaDist.Engine.Models;
using LlamaDist.PowerShell.Completion;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Splits a model's layers across workers and loads them, ready for many prompts.</para>
/// <para type="description">Each worker loads its layer range from its own copy of the GGUF (verified by a
/// content hash of exactly those tensors) or its cache; a worker without either receives just its range, once.
/// -Split Auto weighs each node's measured speed and free memory; Even and Memory split by count and by free
/// memory; a list of numbers gives the layers per node. -Split Tensor gives every worker a slice of every layer
/// instead (its attention heads, feed-forward units and vocabulary rows, read from its own copy of the GGUF), so
/// all workers compute each token at once and exchange partial sums twice per layer: faster than one machine on a
/// fast link. -Split Hybrid combines both: the workers form tensor-parallel groups (-TensorGroupSize, pairs by
/// default) that run as the stages of a layer split, each group a contiguous range of layers.</para>
/// <example><code>$c = New-LlamaCluster -Model .\tiny.gguf -Worker pc1:50052, mac1:50052 -Split Auto; $c.Nodes</code></example>
/// <example><code>New-LlamaCluster -Model .\tiny.gguf -Worker $w1, $w2 -IncludeLocal -Split 2,5,4</code></example>
/// <example><code>New-LlamaCluster -Model .\tinyllama.gguf -Worker pc1:50052, pc2:50052 -Split Tensor -ActivationEncoding F32</code></example>
/// <example><code>New-LlamaCluster -Model .\tinyllama.gguf -Worker pc1:50052, pc2:50052, pc3:50052, pc4:50052 -Split Hybrid -TensorGroupSize 2</code></example>
/// <example><code>$w1, $w2 | New-LlamaCluster -Model .\tiny.gguf</code></example>
/// <example><code>New-LlamaCluster -Model .\tiny.gguf -Worker https://pc1:50052 -TokenFile .\cluster.token -CertificateThumbprint $thumb</code></example>
/// </summary>
[Cmdlet(VerbsCommon.New, "LlamaCluster", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(LlamaCluster))]
public sealed class NewLlamaClusterCommand : LlamaCmdlet
{
    private const int ProgressId = 5;

    /// <summary>The GGUF model on this machine; the embedded default model when omitted.</summary>
    [Parameter(Position = 0)]
    [ArgumentCompleter(typeof(ModelPathCompleter))]
    [ValidateNotNullOrEmpty]
    public string? Model { get; set; }

    /// <summary>Workers in ring order: host:port, or worker objects from Start-LlamaWorker (also from the pipeline).</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Endpoint")]
    [ArgumentCompleter(typeof(WorkerEndpointCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Worker { get; set; } = [];

    /// <summary>Every worker given, in order, whether by parameter or one pipeline object at a time.</summary>
    private readonly List<string> workers = [];

    /// <summary>Run the first layers in this process as well.</summary>
    [Parameter]
    public SwitchParameter IncludeLocal { get; set; }

    /// <summary>Auto (default), Even, Memory, or layer counts per node in ring order (this process first with -IncludeLocal).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(SplitModeCompleter))]
    [ValidateNotNullOrEmpty]
    public string[]? Split { get; set; }

    /// <summary>
    /// -Split Hybrid: workers per tensor-parallel group, taken in -Worker order. One number: groups of that size,
    /// the last taking what is left (2 over 5 workers: 2, 2, 1); several: exactly those sizes (2,1 over 3 workers).
    /// Pairs when omitted; given without -Split, it means -Split Hybrid.
    /// </summary>
    [Parameter]
    [ValidateRange(1, 4096)]
    [ValidateCount(1, 4096)]
    public int[]? TensorGroupSize { get; set; }

    /// <summary>Threads of the local stage (-IncludeLocal); physical cores when omitted.</summary>
    [Parameter]
    [ValidateRange(1, 1024)]
    public int Threads { get; set; }

    /// <summary>
    /// How hidden states travel between nodes: F32 (the default: exactly the local values, so output identical to
    /// one machine's), F16 (half the bytes) or Q8_0 (ggml's 8-bit blocks, about a quarter), for slow links. With -Split Tensor the same choice applies to the partial sums; with -Split Hybrid to the partial sums and the hidden states between groups.
    /// </summary>
    [Parameter]
    [ValidateSet("F32", "F16", "Q8_0")]
    public string ActivationEncoding { get; set; } = "F32";

    /// <summary>
    /// What happens when a node fails mid-prompt. Reassign (default): its layers move to the remaining nodes (or
    /// this process with -IncludeLocal), the session's tokens are replayed to rebuild their KV caches, and
    /// generation goes on with the same output, each failover recorded on the result; None: the prompt fails
    /// naming the node, with the partial result on the error.
    /// </summary>
    [Parameter]
    [ValidateSet("Reassign", "None")]
    public string Failover { get; set; } = "Reassign";

    /// <summary>
    /// Seconds a node may give no sign of life (its health checks unanswered) before it counts as failed, even in
    /// the middle of a long prompt step; 5 by default. Also bounds each handshake (three times this, at most 15 s).
    /// </summary>
    [Parameter]
    [ValidateRange(0.1, 3600.0)]
    public double StageTimeout { get; set; } = 5;

    /// <summary>
    /// Tokens per micro-batch of a prompt pipelined through the ring, so every stage works at once (llama.cpp's
    /// -ub); omitted or 0: chosen per prompt from the stages on distinct machines and the measured link.
    /// </summary>
    [Parameter]
    [ValidateRange(0, 4096)]
    public int MicroBatchSize { get; set; }

    /// <summary>The cluster token the workers were started with (see also -TokenFile, LLAMADIST_TOKEN).</summary>
    [Parameter]
    public System.Security.SecureString? Token { get; set; }

    /// <summary>A file whose first line is the cluster token.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? TokenFile { get; set; }

    /// <summary>SHA-256 thumbprints the workers' TLS certificates may have (https:// endpoints).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? CertificateThumbprint { get; set; }

    /// <summary>A PFX file with the client certificate to present to workers that require one (mutual TLS).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ClientCertificatePath { get; set; }

    /// <summary>The password of the -ClientCertificatePath file.</summary>
    [Parameter]
    public System.Security.SecureString? ClientCertificatePassword { get; set; }

    protected override void ProcessRecord() => workers.AddRange(Worker);

    protected override void EndProcessing()
    {
        var modelPath = Model is null ? ModelPaths.DefaultModelPath() : ResolveSinglePath(Model);
        if (!ShouldProcess($"{string.Join(", ", workers)}{(IncludeLocal ? " and this process" : "")}", $"Load the layers of {modelPath}"))
        {
            return;
        }
        RunEngine(() =>
        {
            var credentials = WorkerCredentialResolver.Resolve(Token, TokenFile, CertificateThumbprint, ClientCertificatePath, ClientCertificatePassword, workers, ResolveSinglePath);
            var cluster = ClusterCmdletSupport.Create(this, modelPath, [.. workers], IncludeLocal, Split, Threads, ActivationEncoding, ProgressId, credentials, MicroBatchSize, Failover, StageTimeout, TensorGroupSize);
            var output = OutputMapping.ToCluster(cluster);
            SessionRegistry.Add(output);
            WriteObject(output);
        }, modelPath);
    }
}
