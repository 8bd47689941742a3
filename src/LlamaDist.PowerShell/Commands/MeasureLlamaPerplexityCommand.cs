using System.Management.Automation;
using LlamaDist.Engine.Models;
using LlamaDist.PowerShell.Completion;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Measures a model's perplexity on a text file, as llama-perplexity does.</para>
/// <example><code>Measure-LlamaPerplexity -Model .\tiny.gguf -Path .\wiki.test.raw -ContextSize 512</code></example>
/// </summary>
[Cmdlet(VerbsDiagnostic.Measure, "LlamaPerplexity")]
[OutputType(typeof(LlamaPerplexityResult))]
public sealed class MeasureLlamaPerplexityCommand : LlamaCmdlet
{
    private const int ProgressId = 2;

    [Parameter(Mandatory = true, Position = 0)]
    [ArgumentCompleter(typeof(ModelPathCompleter))]
    [ValidateNotNullOrEmpty]
    public string Model { get; set; } = "";

    /// <summary>UTF-8 text file to score. Takes FileInfo objects (FullName) from the pipeline.</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Tokens per chunk (llama-perplexity -c); the second half of each chunk is scored.</summary>
    [Parameter]
    [ValidateRange(8, 1_048_576)]
    public int ContextSize { get; set; } = 512;

    [Parameter]
    [ValidateRange(1, 1024)]
    public int Threads { get; set; }

    /// <summary>Where the weight matrices are read from: Auto (default), Mapped or Resident (see Invoke-LlamaPrompt).</summary>
    [Parameter]
    [ValidateSet(nameof(WeightMemoryMode.Auto), nameof(WeightMemoryMode.Mapped), nameof(WeightMemoryMode.Resident))]
    public string WeightMemory { get; set; } = nameof(WeightMemoryMode.Auto);

    /// <summary>
    /// Where the layers run: Auto (default; CUDA, then OpenCL, then the CPU engine, saying what it found in the verbose
    /// stream), Cpu, Cuda, OpenCL or IlgpuCpu (the device kernels on ILGPU's CPU accelerator, for checking them
    /// without a GPU). An explicit backend that cannot run here fails with ErrorId BackendUnavailable.
    /// </summary>
    /// <remarks>A string, not the engine's enum: PowerShell reads parameter types before the engine can be loaded.</remarks>
    [Parameter]
    [ValidateSet(nameof(ComputeBackendMode.Auto), nameof(ComputeBackendMode.Cpu), nameof(ComputeBackendMode.Cuda), nameof(ComputeBackendMode.OpenCL), nameof(ComputeBackendMode.IlgpuCpu))]
    public string Backend { get; set; } = nameof(ComputeBackendMode.Auto);

    protected override void ProcessRecord()
    {
        var modelPath = ResolveSinglePath(Model);
        var textPath = ResolveSinglePath(Path);
        if (!File.Exists(textPath))
        {
            WriteError(new ErrorRecord(new FileNotFoundException($"Text file not found: {textPath}", textPath),
                "TextFileNotFound", ErrorCategory.ObjectNotFound, textPath));
            return;
        }

        RunEngine(() =>
        {
            using var model = LocalModel.Load(modelPath, Threads, CreateProgress(ProgressId, "Loading model", modelPath), CancellationToken, Enum.Parse<WeightMemoryMode>(WeightMemory),
                Enum.Parse<ComputeBackendMode>(Backend), WriteVerbose);
            var text = File.ReadAllText(textPath);
            var result = model.MeasurePerplexity(text, ContextSize, CreateProgress(ProgressId, "Measuring perplexity", textPath), CancellationToken);
            CompleteProgress(ProgressId, "Measuring perplexity");
            WriteObject(OutputMapping.ToPerplexityResult(model.Summary.Name, textPath, result));
        }, modelPath);
    }
}
