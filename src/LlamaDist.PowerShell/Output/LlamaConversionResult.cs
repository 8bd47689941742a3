namespace LlamaDist.PowerShell.Output;

/// <summary>ConvertTo-LlamaQuantized's output: what was written and how much smaller it is.</summary>
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
    public double ElapsedMs { get; init; }
}
