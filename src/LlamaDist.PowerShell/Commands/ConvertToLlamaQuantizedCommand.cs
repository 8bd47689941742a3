using System.Management.Automation;
using LlamaDist.Engine.Conversion;
using LlamaDist.Engine.Formatting;
using LlamaDist.PowerShell.Completion;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Writes a copy of a GGUF model with its weights quantized, like llama-quantize.</para>
/// <para type="description">The K mixes (Q3_K_S/M/L, Q4_K_S/M, Q5_K_S/M) choose a type per tensor by llama.cpp's
/// rules (e.g. Q4_K_M keeps half of attn_v and ffn_down in Q6_K); norms stay F32. Requantizing an already
/// quantized model works but loses precision, as llama-quantize --allow-requantize does.</para>
/// <example><code>ConvertTo-LlamaQuantized -Path .\model-f16.gguf -Destination .\model-q4_k_m.gguf -Type Q4_K_M</code></example>
/// <example><code>'Q8_0', 'Q4_0' | ForEach-Object { ConvertTo-LlamaQuantized .\model-f16.gguf ".\model-$_.gguf" -Type $_ }</code></example>
/// </summary>
[Cmdlet(VerbsData.ConvertTo, "LlamaQuantized", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(LlamaConversionResult))]
public sealed class ConvertToLlamaQuantizedCommand : LlamaCmdlet
{
    private const int ProgressId = 6;

    /// <summary>The source GGUF (F32, F16, BF16 or already quantized).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [ArgumentCompleter(typeof(ModelPathCompleter))]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string Destination { get; set; } = "";

    [Parameter(Mandatory = true)]
    [ValidateSet("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L",
        "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K")]
    public string Type { get; set; } = "";

    /// <summary>Threads that quantize rows; all cores when omitted.</summary>
    [Parameter]
    [ValidateRange(1, 1024)]
    public int Threads { get; set; }

    /// <summary>Overwrite the destination (without it an existing destination is error FileExists).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        var source = ResolveSinglePath(Path);
        var destination = ResolveSinglePath(Destination);
        if (!ShouldProcess(destination, $"Write {Type} copy of {source}"))
        {
            return;
        }
        RunEngine(() =>
        {
            var progress = CreateProgress(ProgressId, "Quantizing model", $"{Type} -> {destination}");
            var result = ModelConverter.Convert(source, destination, Type, Force, Threads, progress, CancellationToken);
            CompleteProgress(ProgressId, "Quantizing model");
            foreach (var fallback in result.Fallbacks)
            {
                WriteVerbose(fallback.ToString());
            }
            if (result.Fallbacks.Count > 0)
            {
                WriteVerbose($"{result.Fallbacks.Count} of {result.QuantizedTensorCount} tensor(s) required fallback quantization.");
            }
            WriteObject(new LlamaConversionResult
            {
                Path = result.DestinationPath,
                Source = result.SourcePath,
                Type = result.Type,
                SourceBytes = result.SourceBytes,
                Bytes = result.DestinationBytes,
                Size = HumanReadable.Bytes(result.DestinationBytes),
                SizeRatio = Math.Round(result.SizeRatio, 4),
                TensorCount = result.TensorCount,
                ConvertedTensors = result.ConvertedTensorCount,
                TensorTypes = string.Join(" ", result.TensorCounts.OrderByDescending(pair => pair.Value).Select(pair => $"{pair.Key}:{pair.Value}")),
                QuantizedTensors = result.QuantizedTensorCount,
                FallbackCount = result.Fallbacks.Count,
                Fallbacks = [.. result.Fallbacks.Select(fallback => new LlamaQuantizationFallback
                {
                    Tensor = fallback.Tensor, Columns = fallback.Columns, Rows = fallback.Rows, PlannedType = fallback.PlannedType,
                    PlannedBlockSize = fallback.PlannedBlockSize, FallbackType = fallback.FallbackType,
                })],
                ElapsedMs = result.ElapsedMilliseconds,
            });
        }, source);
    }
}
