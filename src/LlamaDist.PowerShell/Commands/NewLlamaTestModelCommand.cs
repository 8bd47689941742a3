using System.Management.Automation;
using LlamaDist.Engine.TestModels;
using LlamaDist.PowerShell.Completion;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Writes a GGUF model with deterministic pseudo-random weights, for tests and benchmarks.</para>
/// <example><code>New-LlamaTestModel -Path ./tinyllama-q8.gguf -Preset TinyLlama -Type Q8_0</code></example>
/// <example><code>New-LlamaTestModel -Path ./qwen3-small.gguf -Preset Small -Architecture Qwen3 -Type Q4_K</code></example>
/// </summary>
[Cmdlet(VerbsCommon.New, "LlamaTestModel", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(LlamaModelInfo))]
public sealed class NewLlamaTestModelCommand : LlamaCmdlet
{
    private const int ProgressId = 3;

    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Tiny (2 layers, multi-head), Small (4 layers, grouped-query) or TinyLlama (the 1.1B shape).</summary>
    [Parameter]
    [ValidateSet("Tiny", "Small", "TinyLlama")]
    public string Preset { get; set; } = "Tiny";

    /// <summary>
    /// The GGUF layout llama.cpp's converter gives that family: Llama (Llama 2 / TinyLlama), Llama3 (rope_freqs,
    /// tied embeddings), Qwen2 (Q/K/V biases), Qwen3 (Q/K norms), Phi3 (fused QKV and gate/up), Phi35 (Phi3 with
    /// LongRoPE factors), Gemma2 (post-norms, soft-capping, sliding window) or Mistral.
    /// </summary>
    [Parameter]
    [ValidateSet("Llama", "Llama3", "Qwen2", "Qwen3", "Phi3", "Phi35", "Gemma2", "Mistral")]
    public string Architecture { get; set; } = "Llama";

    [Parameter]
    [ValidateSet("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")]
    public string Type { get; set; } = "F32";

    /// <summary>Same seed, same bytes.</summary>
    [Parameter]
    public int Seed { get; set; } = 42;

    /// <summary>A GGUF whose tokenizer to copy; the embedded model's 32000-token vocabulary when omitted.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(ModelPathCompleter))]
    [ValidateNotNullOrEmpty]
    public string? VocabFrom { get; set; }

    /// <summary>A Hugging Face tokenizer.json (gzipped or not) to build the vocabulary from; the model's vocabulary
    /// size follows it. Byte-level BPE tokenizers (Llama 3, Qwen 2/3, GPT-2 style).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Tokenizer { get; set; }

    /// <summary>The tokenizer_config.json beside -Tokenizer: BOS/EOS, add_bos/add_eos and the chat template.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? TokenizerConfig { get; set; }

    /// <summary>Overwrite an existing file (without it an existing file is error FileExists).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        var path = ResolveSinglePath(Path);
        if (!ShouldProcess(path, $"Write {Preset} {Architecture} {Type} test model"))
        {
            return;
        }

        if (Tokenizer is not null && VocabFrom is not null || TokenizerConfig is not null && Tokenizer is null)
        {
            ThrowTerminatingError(new ErrorRecord(
                new ArgumentException("Use either -VocabFrom or -Tokenizer (with an optional -TokenizerConfig)."),
                "InvalidArgument", ErrorCategory.InvalidArgument, Tokenizer ?? TokenizerConfig));
        }

        var vocabulary = VocabFrom is null ? null : ResolveSinglePath(VocabFrom);
        var tokenizerJson = Tokenizer is null ? null : ResolveSinglePath(Tokenizer);
        var tokenizerConfig = TokenizerConfig is null ? null : ResolveSinglePath(TokenizerConfig);
        RunEngine(() =>
        {
            var progress = CreateProgress(ProgressId, "Writing test model", $"{Preset} {Architecture} {Type} -> {path}");
            var summary = tokenizerJson is null
                ? TestModelFactory.Create(path, Preset, Type, Seed, vocabulary, Force, progress, CancellationToken, Architecture)
                : TestModelFactory.CreateWithTokenizer(path, Preset, Type, Seed, tokenizerJson, tokenizerConfig, Force,
                    progress, CancellationToken, Architecture);
            CompleteProgress(ProgressId, "Writing test model");
            WriteObject(OutputMapping.ToModelInfo(summary));
        }, path);
    }
}
