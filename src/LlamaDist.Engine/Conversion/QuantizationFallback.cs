namespace LlamaDist.Engine.Conversion;

/// <summary>
/// A tensor written in a fallback type because its rows are not whole blocks of the type the preset chose for it,
/// as llama-quantize reports "tensor cols 704 x 256 are not divisible by 256, required for q4_K - using fallback
/// quantization q5_0".
/// </summary>
/// <param name="Tensor">The tensor's name ("blk.0.ffn_down.weight").</param>
/// <param name="Columns">Elements per row (ggml ne[0]).</param>
/// <param name="Rows">Rows of the tensor (the product of the other dimensions).</param>
/// <param name="PlannedType">The type the preset chose (ggml name, "Q4_K").</param>
/// <param name="PlannedBlockSize">Elements per block of <paramref name="PlannedType"/> (256 for the K types).</param>
/// <param name="FallbackType">The type written instead ("Q5_0", or "F16" when not even 32-element blocks fit).</param>
public sealed record QuantizationFallback(string Tensor, long Columns, long Rows, string PlannedType, int PlannedBlockSize,
    string FallbackType)
{
    /// <summary>The line llama-quantize would log for the tensor.</summary>
    public override string ToString() =>
        $"{Tensor}: rows of {Columns} are not divisible by {PlannedBlockSize}, required for {PlannedType}; using fallback quantization {FallbackType}";
}
