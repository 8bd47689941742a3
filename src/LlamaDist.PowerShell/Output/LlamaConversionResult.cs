using System.Management.Automation;

namespace LlamaDist.PowerShell.Output;

/// <summary>
/// ConvertTo-LlamaQuantized's output: what was written, how much smaller it is, and which tensors fell back to
/// another type. Fallbacks (nested) is hidden from Export-Csv like the prompt result's TokenIds; FallbackCount is
/// its flat count, and the list view shows both.
/// </summary>
public sealed class LlamaConversionResult
{
    public string Path { get; init; } = "";
    public string Source { get; init; } = "";
    /// <summary>The preset, as llama-quantize names it (Q4_K_M, Q8_0, ...).</summary>
    public string Type { get; init; } = "";
    public long SourceBytes { get; init; }
    public long Bytes { get; init; }
    public string Size { get; init; } = "";
    /// <summary>Output size over input size.</summary>
    public double SizeRatio { get; init; }
    public int TensorCount { get; init; }
    public int ConvertedTensors { get; init; }
    /// <summary>Tensors per storage type in the output: "Q4_K:23 Q6_K:4 F32:9".</summary>
    public string TensorTypes { get; init; } = "";
    /// <summary>Tensors the preset quantizes (the M of llama-quantize's "N of M tensor(s) required fallback quantization").</summary>
    public int QuantizedTensors { get; init; }

    /// <summary>Tensors written in a fallback type (the N).</summary>
    public int FallbackCount { get; init; }

    /// <summary>Each tensor written in a fallback type, in file order.</summary>
    [Hidden]
    public LlamaQuantizationFallback[] Fallbacks { get; init; } = [];

    public double ElapsedMs { get; init; }
}
