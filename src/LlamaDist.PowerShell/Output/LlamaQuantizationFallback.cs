namespace LlamaDist.PowerShell.Output;

/// <summary>
/// A tensor ConvertTo-LlamaQuantized wrote in a fallback type because its rows are not whole blocks of the type
/// the preset chose (llama-quantize: "using fallback quantization"), e.g. a 704-wide ffn_down planned as Q4_K
/// (256-element blocks) and written as Q5_0 (32-element blocks).
/// </summary>
public sealed class LlamaQuantizationFallback
{
    public string Tensor { get; init; } = "";

    /// <summary>Elements per row.</summary>
    public long Columns { get; init; }

    public long Rows { get; init; }

    /// <summary>The type the preset chose ("Q4_K").</summary>
    public string PlannedType { get; init; } = "";

    /// <summary>Elements per block of <see cref="PlannedType"/> (256 for K types).</summary>
    public int PlannedBlockSize { get; init; }

    /// <summary>The type written ("Q5_0"; "F16" when the rows are not even whole 32-element blocks).</summary>
    public string FallbackType { get; init; } = "";

    public override string ToString() => $"{Tensor} {PlannedType}->{FallbackType}";
}
