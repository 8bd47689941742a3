using System.Management.Automation;
using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;
using LlamaDist.PowerShell.Completion;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// A cmdlet that generates text (Invoke-LlamaPrompt, Invoke-LlamaChat): the model it loads once in BeginProcessing
/// (here, split across -Worker, or a -Cluster), the sampling and stopping parameters, and streaming to the host.
/// </summary>
public abstract class GenerationCmdlet : ClusterCapableCmdlet
{
    private const int LoadProgressId = 1;

    /// <summary>The progress bar of a prompt longer than one batch (Write-Progress, one bar per cmdlet).</summary>
    protected const int PromptProgressId = 3;

    // Held as IDisposable so the cmdlet's own type never names engine types in fields (see ModuleInitializer):
    // a local model, or a cluster (owned when this cmdlet built it from -Worker, borrowed with -Cluster).
    private IDisposable? loadedModel;
    private bool ownsModel;

    /// <summary>The GGUF model; the embedded default model when omitted.</summary>
    [Parameter(Position = 1, ParameterSetName = LocalSet)]
    [Parameter(Position = 1, ParameterSetName = WorkerSet)]
    [ArgumentCompleter(typeof(ModelPathCompleter))]
    [ValidateNotNullOrEmpty]
    public string? Model { get; set; }

    /// <summary>With -Worker: F32 (exact, the default), F16 or Q8_0 hidden states between nodes (partial sums with -Split Tensor).</summary>
    [Parameter(ParameterSetName = WorkerSet)]
    [ValidateSet("F32", "F16", "Q8_0")]
    public string ActivationEncoding { get; set; } = "F32";

    /// <summary>Most tokens to generate (llama.cpp -n).</summary>
    [Parameter]
    [ValidateRange(0, 1_000_000)]
    public int MaxTokens { get; set; } = 128;

    /// <summary>0 means greedy (argmax).</summary>
    [Parameter]
    [ValidateRange(0.0, 100.0)]
    public float Temperature { get; set; } = 0.8f;

    /// <summary>0 disables top-k.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int TopK { get; set; } = 40;

    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public float TopP { get; set; } = 0.95f;

    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public float MinP { get; set; } = 0.05f;

    /// <summary>1.0 disables the penalty.</summary>
    [Parameter]
    [ValidateRange(0.01, 100.0)]
    public float RepeatPenalty { get; set; } = 1.0f;

    [Parameter]
    [ValidateRange(0, 1_000_000)]
    public int RepeatLastN { get; set; } = 64;

    /// <summary>Same seed, same model, same prompt: same text.</summary>
    [Parameter]
    public int? Seed { get; set; }

    /// <summary>Compute threads (of the local stage with -Worker -IncludeLocal); physical cores when omitted.</summary>
    [Parameter(ParameterSetName = LocalSet)]
    [Parameter(ParameterSetName = WorkerSet)]
    [ValidateRange(1, 1024)]
    public int Threads { get; set; }

    /// <summary>KV cache size in tokens; the model's context (at most 4096) when omitted.</summary>
    [Parameter]
    [ValidateRange(0, 1_048_576)]
    public int ContextSize { get; set; }

    /// <summary>Generation ends when the text reaches one of these strings; the text stops before it (StopReason StopString).</summary>
    [Parameter]
    [ValidateCount(0, GenerationRequest.MaxStopStrings)]
    [ValidateNotNull]
    public string[] Stop { get; set; } = [];

    /// <summary>Write the text to the host as it is generated.</summary>
    [Parameter]
    public SwitchParameter Stream { get; set; }

    /// <summary>The loaded model: a LocalModel or a ClusterModel.</summary>
    protected object? LoadedModel => loadedModel;

    protected override void BeginProcessing()
    {
        if (ParameterSetName == ClusterSet)
        {
            loadedModel = ResolveCluster(out var error);
            if (error is not null)
            {
                ThrowTerminatingError(error);
            }
            return;
        }

        var modelPath = Model is null ? ModelPaths.DefaultModelPath() : ResolveSinglePath(Model);
        ownsModel = true;
        if (ParameterSetName == WorkerSet)
        {
            RunEngine(() => loadedModel = ClusterCmdletSupport.Create(this, modelPath, Worker, IncludeLocal, Split, Threads,
                ActivationEncoding, LoadProgressId, WorkerCredentials(), failover: Failover, stageTimeoutSeconds: StageTimeout), modelPath, terminating: true);
            return;
        }

        RunEngine(() =>
        {
            var progress = CreateProgress(LoadProgressId, "Loading model", modelPath);
            loadedModel = LocalModel.Load(modelPath, Threads, progress, CancellationToken, Enum.Parse<WeightMemoryMode>(WeightMemory),
                Enum.Parse<ComputeBackendMode>(Backend), WriteVerbose);
            CompleteProgress(LoadProgressId, "Loading model");
        }, modelPath, terminating: true);
    }

    /// <summary>The sampling and stopping parameters as a request for <paramref name="prompt"/>.</summary>
    protected GenerationRequest CreateRequest(string prompt) => new()
    {
        Prompt = prompt,
        MaxTokens = MaxTokens,
        Temperature = Temperature,
        TopK = TopK,
        TopP = TopP,
        MinP = MinP,
        RepeatPenalty = RepeatPenalty,
        RepeatLastN = RepeatLastN,
        Seed = Seed,
        ContextSize = ContextSize,
        Stop = Stop,
        PromptProgress = CreateProgress(PromptProgressId, "Evaluating prompt", $"{prompt.Length} characters"),
    };

    /// <summary>The model's display name.</summary>
    protected string ModelName => loadedModel switch
    {
        LocalModel local => local.Summary.Name,
        ClusterModel cluster => cluster.Summary.Name,
        _ => throw new InvalidOperationException("No model is loaded."),
    };

    /// <summary>Streams text to the host with -Stream (else null); call <see cref="EndStream"/> after generating.</summary>
    // Streamed text goes where Write-Host goes (the information stream, tagged PSHOST): shown as it comes,
    // and capturable with 6>&1 like any host output.
    protected Action<string>? StreamTarget => Stream ? text => WriteHostText(text, newLine: false) : null;

    protected void EndStream()
    {
        if (Stream) WriteHostText("", newLine: true);
    }

    private void WriteHostText(string text, bool newLine) =>
        WriteInformation(new HostInformationMessage { Message = text, NoNewLine = !newLine }, ["PSHOST"]);

    protected override void DisposeResources()
    {
        if (ownsModel)
        {
            loadedModel?.Dispose();
        }
        loadedModel = null;
    }
}
