using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.TestModels;

/// <summary>
/// Per-tensor storage types of a K-quant synthetic model, chosen the way llama-quantize does for the matching
/// preset: K-quants need rows that are whole 256-element super-blocks, and llama-quantize stores a tensor whose
/// rows are not (here: every tensor of the Tiny preset, ffn_down of the Small preset with its 704-wide rows) in a
/// 32-block fallback type instead. llama-quantize picks Q4_0 / Q5_0 / Q5_1 / Q8_0 for Q2_K and Q3_K / Q4_K /
/// Q5_K / Q6_K (Conversion.TensorTypeRules, which the model converter uses, reproduces that and the per-layer
/// mixes); this writer always falls back to Q8_0, which is at least as precise. For Q2_K
/// (LLAMA_FTYPE_MOSTLY_Q2_K), Q3_K (LLAMA_FTYPE_MOSTLY_Q3_K_M) and Q4_K (LLAMA_FTYPE_MOSTLY_Q4_K_M) the output head
/// is Q6_K, as llama-quantize does for those presets. Every other matrix keeps the model's type: llama-quantize's
/// Q2_K and Q3_K_M also raise some attn_v / attn_output / ffn_down tensors to Q3_K, Q4_K or Q5_K (per layer,
/// by position), which this writer does not reproduce, so the K type itself is exercised in every layer.
/// Non-K types are returned unchanged.
/// </summary>
internal static class KQuantTensorTypes
{
    /// <summary>The type written for fallback tensors of a K-quant model.</summary>
    public const GgmlType FallbackType = GgmlType.Q8_0;

    /// <summary>True for the K-quant matrix types the writer produces.</summary>
    public static bool IsKQuant(GgmlType type) =>
        type is GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;

    /// <summary>
    /// The tensor with its storage type adjusted for a <paramref name="matrixType"/> model. With
    /// <paramref name="tiedEmbeddings"/> (no output.weight) token_embd.weight is the output head, and llama-quantize
    /// gives it the head's type.
    /// </summary>
    public static SyntheticTensor Adjust(SyntheticTensor tensor, GgmlType matrixType, bool tiedEmbeddings = false)
    {
        if (!IsKQuant(matrixType) || tensor.Type != matrixType)
        {
            return tensor; // norms (F32) and non-K models keep their types
        }
        GgmlType type = (matrixType is GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K) 
            && (tensor.Name == "output.weight" || (tiedEmbeddings && tensor.Name == "token_embd.weight"))
            ? GgmlType.Q6_K
            : matrixType;
        if (tensor.Columns % GgmlTypeInfo.BlockSize(type) != 0)
        {
            type = FallbackType;
        }
        return type == tensor.Type ? tensor : tensor with { Type = type };
    }
}
