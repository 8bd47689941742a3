using System.Management.Automation;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Generates text from a prompt with a GGUF model and returns the text with llama.cpp-style timings.</para>
/// <example><code>Invoke-LlamaPrompt -Model .\tiny.gguf -Prompt 'Once upon a time' -MaxTokens 32 -Temperature 0</code></example>
/// <example><code>'Hello', 'Bonjour' | Invoke-LlamaPrompt -Model .\tiny.gguf | Export-Csv runs.csv</code></example>
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "LlamaPrompt")]
[OutputType(typeof(LlamaPromptResult))]
public sealed class InvokeLlamaPromptCommand : LlamaCmdlet
{
    private const int LoadProgressId = 1;

    // Held as IDisposable so the cmdlet's own type never names engine types in fields (see ModuleInitializer).
    private IDisposable? loadedModel;

    /// <summary>The GGUF model; the embedded default model when omitted.</summary>
    [Parameter(Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? Model { get; set; }

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [AllowEmptyString]
    public string Prompt { get; set; } = "";

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

    /// <summary>Compute threads; physical cores when omitted.</summary>
    [Parameter]
    [ValidateRange(1, 1024)]
    public int Threads { get; set; }

    /// <summary>KV cache size in tokens; the model's context (at most 4096) when omitted.</summary>
    [Parameter]
    [ValidateRange(0, 1_048_576)]
    public int ContextSize { get; set; }

    /// <summary>Write the text to the host as it is generated.</summary>
    [Parameter]
    public SwitchParameter Stream { get; set; }

    protected override void BeginProcessing()
    {
        var modelPath = Model is null ? ModelPaths.DefaultModelPath() : ResolveSinglePath(Model);
        RunEngine(() =>
        {
            var progress = CreateProgress(LoadProgressId, "Loading model", modelPath);
            loadedModel = LocalModel.Load(modelPath, Threads, progress, CancellationToken);
            CompleteProgress(LoadProgressId, "Loading model");
        }, modelPath, terminating: true);
    }

    protected override void ProcessRecord()
    {
        var model = (LocalModel)loadedModel!;
        var request = new GenerationRequest
        {
            Prompt = Prompt,
            MaxTokens = MaxTokens,
            Temperature = Temperature,
            TopK = TopK,
            TopP = TopP,
            MinP = MinP,
            RepeatPenalty = RepeatPenalty,
            RepeatLastN = RepeatLastN,
            Seed = Seed,
            ContextSize = ContextSize,
        };

        RunEngine(() =>
        {
            // Streamed text goes where Write-Host goes (the information stream, tagged PSHOST): shown as it comes,
            // and capturable with 6>&1 like any host output.
            Action<string>? onText = Stream ? text => WriteHostText(text, newLine: false) : null;
            var result = model.Generate(request, onText, CancellationToken);
            if (Stream) WriteHostText("", newLine: true);
            WriteObject(OutputMapping.ToPromptResult(model.Summary.Name, Prompt, result));
        }, Prompt);
    }

    private void WriteHostText(string text, bool newLine) =>
        WriteInformation(new HostInformationMessage { Message = text, NoNewLine = !newLine }, ["PSHOST"]);

    protected override void DisposeResources()
    {
        loadedModel?.Dispose();
        loadedModel = null;
    }
}
