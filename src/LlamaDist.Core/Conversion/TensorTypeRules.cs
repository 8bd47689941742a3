using System.Globalization;
using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Conversion;

/// <summary>
/// What the converter does with one tensor: its source entry and the type it is written in. When the rules chose a
/// block type whose blocks do not divide the rows, <paramref name="PlannedType"/> is that type and
/// <paramref name="TargetType"/> the fallback written instead (llama-quantize's "using fallback quantization").
/// </summary>
public sealed record TensorConversion(GgufTensorInfo Source, GgmlType TargetType, GgmlType? PlannedType = null)
{
    public string Name => Source.Name;

    /// <summary>False when the bytes are copied unchanged (same type, or a tensor that is never quantized).</summary>
    public bool Converts => Source.Type != TargetType;

    /// <summary>True when the rows did not fit the planned type's blocks and a fallback type was written.</summary>
    public bool IsFallback => PlannedType is { } planned && planned != TargetType;
}

/// <summary>
/// Per-tensor storage types for a <see cref="QuantizationPreset"/>, following llama.cpp's llama-quantize
/// (llama-quant.cpp: tensor_allows_quantization, llama_tensor_get_type, tensor_type_fallback) without an
/// importance matrix, with default parameters (output tensor quantized, no overrides, not --pure):
/// <list type="bullet">
/// <item>Only weights are converted: tensors with at least two non-trivial dimensions whose name ends in "weight",
/// except norms (*_norm.weight), MoE routers (ffn_gate_inp), positional/token-type embeddings, and the small
/// SSM/RWKV/T5 tensors llama.cpp also leaves alone. Everything else (1-D norms in particular) keeps its type.</item>
/// <item>F32/F16/BF16 presets store every converted tensor in that type.</item>
/// <item>Quantized presets: output.weight (and token_embd.weight when the model has no output.weight, i.e. tied
/// embeddings) becomes Q6_K, or stays Q8_0 for Q8_0, or is Q8_0 when its rows are not whole blocks of the base type.
/// The K mixes raise attn_v, attn_output and ffn_down by layer (use_more_bits: the first and last eighth of the
/// layers and every third layer between get more bits), e.g. Q4_K_M stores half the attn_v and ffn_down in Q6_K.</item>
/// <item>A tensor whose rows are not whole 256-element super-blocks falls back: Q2_K/Q3_K → Q4_0, Q4_K → Q5_0,
/// Q5_K → Q5_1, Q6_K → Q8_0, and to F16 when the rows are not even whole 32-blocks. llama.cpp falls back from
/// Q2_K/Q3_K to IQ4_NL, which this engine has no kernels for; Q4_0 has the same 32-element blocks and size (4.5
/// bits per weight). The conversion records the planned type of each tensor, so fallbacks can be reported.</item>
/// </list>
/// Counters (the i-th attn_v, the i-th ffn_down) run over tensors in llama.cpp's order (by layer number, then
/// name), so the choice does not depend on the order the source file lists its tensors in.
/// </summary>
public static class TensorTypeRules
{
    /// <summary>Plans every tensor of <paramref name="model"/>, in file order.</summary>
    public static IReadOnlyList<TensorConversion> Plan(GgufFile model, QuantizationPreset preset)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Plan(model.Tensors, ModelFacts.From(model), preset);
    }

    /// <summary>Plans <paramref name="tensors"/> (in the given order) for a model described by <paramref name="facts"/>.</summary>
    public static IReadOnlyList<TensorConversion> Plan(IReadOnlyList<GgufTensorInfo> tensors, ModelFacts facts,
        QuantizationPreset preset)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(facts);
        GgmlType baseType = QuantizationPresets.BaseType(preset);
        bool quantized = QuantizationPresets.IsQuantized(preset);
        var state = new State(facts, preset,
            attentionVCount: tensors.Count(t => IsAttentionV(Categorize(t.Name))),
            hasOutput: tensors.Any(t => Categorize(t.Name) == Category.Output));

        var targets = new GgmlType[tensors.Count];
        var planned = new GgmlType?[tensors.Count];
        foreach (int index in Enumerable.Range(0, tensors.Count).OrderBy(i => LayerOf(tensors[i].Name))
                     .ThenBy(i => tensors[i].Name, StringComparer.Ordinal))
        {
            GgufTensorInfo tensor = tensors[index];
            if (!AllowsQuantization(tensor))
            {
                targets[index] = tensor.Type;
                continue;
            }
            if (!quantized)
            {
                targets[index] = baseType;
                continue;
            }
            GgmlType type = ChooseType(state, tensor, baseType);
            targets[index] = Fallback(tensor, type, preset, baseType);
            planned[index] = type;
        }
        return tensors.Select((tensor, i) => new TensorConversion(tensor, targets[i], planned[i])).ToArray();
    }

    /// <summary>
    /// llama.cpp's tensor_type_fallback: the type used instead of <paramref name="type"/> when rows of
    /// <paramref name="columns"/> elements are not whole blocks of it; <paramref name="type"/> when they are.
    /// </summary>
    public static GgmlType FallbackType(GgmlType type, long columns)
    {
        if (columns % GgmlTypeInfo.BlockSize(type) == 0)
        {
            return type;
        }
        GgmlType fallback = type switch
        {
            GgmlType.Q2_K or GgmlType.Q3_K => GgmlType.Q4_0,
            GgmlType.Q4_K => GgmlType.Q5_0,
            GgmlType.Q5_K => GgmlType.Q5_1,
            GgmlType.Q6_K => GgmlType.Q8_0,
            _ => throw new NotSupportedException(
                $"Rows of {columns} elements are not whole {GgmlTypeInfo.Name(type)} blocks of " +
                $"{GgmlTypeInfo.BlockSize(type)} and {GgmlTypeInfo.Name(type)} has no fallback type."),
        };
        return columns % GgmlTypeInfo.BlockSize(fallback) == 0 ? fallback : GgmlType.F16;
    }

    /// <summary>
    /// <see cref="FallbackType"/> for one tensor; when nothing fits, the error names the tensor, why it got that type
    /// (the output head's Q8_0 is not the preset's own type) and what to do instead.
    /// </summary>
    private static GgmlType Fallback(GgufTensorInfo tensor, GgmlType type, QuantizationPreset preset, GgmlType baseType)
    {
        try
        {
            return FallbackType(type, tensor.Columns);
        }
        catch (NotSupportedException exception)
        {
            string why = type == baseType ? "" : $" ({preset} stores this tensor as {GgmlTypeInfo.Name(type)})";
            throw new NotSupportedException(
                $"Tensor '{tensor.Name}'{why}: {exception.Message} llama-quantize stops on this tensor too; convert the " +
                "model to F16, BF16 or F32 instead.", exception);
        }
    }

    /// <summary>llama.cpp's tensor_allows_quantization with default parameters.</summary>
    public static bool AllowsQuantization(GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (SignificantDimensions(tensor.Dimensions) < 2)
        {
            return false;
        }
        string name = tensor.Name;
        if (!name.EndsWith("weight", StringComparison.Ordinal))
        {
            return false;
        }
        foreach (string excluded in ExcludedNameParts)
        {
            if (name.Contains(excluded, StringComparison.Ordinal))
            {
                return false;
            }
        }
        return name is not ("position_embd.weight" or "token_types.weight");
    }

    // Substrings of tensors llama-quantize never quantizes (norms, MoE routers, tiny SSM/RWKV/T5/vision tensors).
    private static readonly string[] ExcludedNameParts =
    [
        "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
        "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
        "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
        "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight",
        "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight",
        "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd",
        ".rel_pos", ".patch_embd", ".patch_merger",
    ];

    /// <summary>ggml_n_dims: trailing extents of 1 do not count.</summary>
    private static int SignificantDimensions(long[] dimensions)
    {
        for (int i = dimensions.Length - 1; i >= 1; i--)
        {
            if (dimensions[i] > 1)
            {
                return i + 1;
            }
        }
        return 1;
    }

    private enum Category
    {
        TokenEmbedding, AttentionQ, AttentionV, AttentionK, AttentionQkv, AttentionKvB, AttentionOutput,
        FfnUp, FfnGate, FfnDown, Output, Other,
    }

    private static Category Categorize(string name)
    {
        if (name == "output.weight") return Category.Output;
        if (name is "token_embd.weight" or "per_layer_token_embd.weight") return Category.TokenEmbedding;
        if (name.Contains("attn_qkv.weight", StringComparison.Ordinal)) return Category.AttentionQkv;
        if (name.Contains("attn_kv_b.weight", StringComparison.Ordinal)) return Category.AttentionKvB;
        if (name.Contains("attn_v.weight", StringComparison.Ordinal)) return Category.AttentionV;
        if (name.Contains("attn_k.weight", StringComparison.Ordinal)) return Category.AttentionK;
        if (name.Contains("attn_q.weight", StringComparison.Ordinal)) return Category.AttentionQ;
        if (name.Contains("attn_output.weight", StringComparison.Ordinal)) return Category.AttentionOutput;
        if (name.Contains("ffn_up", StringComparison.Ordinal)) return Category.FfnUp;
        if (name.Contains("ffn_gate", StringComparison.Ordinal)) return Category.FfnGate;
        if (name.Contains("ffn_down", StringComparison.Ordinal)) return Category.FfnDown;
        return Category.Other;
    }

    private static bool IsAttentionV(Category category) =>
        category is Category.AttentionV or Category.AttentionQkv or Category.AttentionKvB;

    /// <summary>The layer number of "blk.N.*", -1 for tensors outside the blocks (they sort first, as in llama.cpp).</summary>
    private static int LayerOf(string name)
    {
        if (!name.StartsWith("blk.", StringComparison.Ordinal))
        {
            return -1;
        }
        int end = name.IndexOf('.', 4);
        return end > 4 && int.TryParse(name.AsSpan(4, end - 4), NumberStyles.None, CultureInfo.InvariantCulture, out int layer)
            ? layer
            : -1;
    }

    /// <summary>use_more_bits: first and last eighth of the layers, and every third layer in between.</summary>
    private static bool UseMoreBits(int layer, int layers) =>
        layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

    private sealed class State(ModelFacts facts, QuantizationPreset preset, int attentionVCount, bool hasOutput)
    {
        public ModelFacts Facts { get; } = facts;
        public QuantizationPreset Preset { get; } = preset;
        public int AttentionVCount { get; } = attentionVCount;
        public bool HasOutput { get; } = hasOutput;
        public int AttentionVIndex { get; set; }
        public int FfnDownIndex { get; set; }
    }

    /// <summary>llama_tensor_get_type_impl for the presets this engine supports.</summary>
    private static GgmlType ChooseType(State state, GgufTensorInfo tensor, GgmlType type)
    {
        ModelFacts facts = state.Facts;
        QuantizationPreset preset = state.Preset;
        Category category = Categorize(tensor.Name);
        bool falcon = facts.Architecture == "falcon";

        if (category == Category.Output || (!state.HasOutput && category == Category.TokenEmbedding))
        {
            if (falcon || tensor.Columns % GgmlTypeInfo.BlockSize(type) != 0)
            {
                return GgmlType.Q8_0;
            }
            return type == GgmlType.Q8_0 ? type : GgmlType.Q6_K;
        }
        if (category == Category.TokenEmbedding)
        {
            return type;
        }
        if (IsAttentionV(category))
        {
            int index = state.AttentionVIndex++;
            bool moreBits = UseMoreBits(index, state.AttentionVCount);
            type = preset switch
            {
                QuantizationPreset.Q2_K => facts.GroupedQueryRatio >= 4 ? GgmlType.Q4_K : GgmlType.Q3_K,
                QuantizationPreset.Q3_K_M => index < 2 ? GgmlType.Q5_K : GgmlType.Q4_K,
                QuantizationPreset.Q3_K_L => GgmlType.Q5_K,
                QuantizationPreset.Q4_K_M or QuantizationPreset.Q5_K_M when moreBits => GgmlType.Q6_K,
                QuantizationPreset.Q4_K_S when index < 4 => GgmlType.Q5_K,
                _ => type,
            };
            if (facts.Is70B && type is GgmlType.Q3_K or GgmlType.Q4_K)
            {
                type = GgmlType.Q5_K; // 8 heads share attn_v in the 70B: more bits cost little
            }
            return facts.ExpertCount == 8 ? GgmlType.Q8_0 : type;
        }
        if (category == Category.AttentionK)
        {
            return facts.ExpertCount == 8 ? GgmlType.Q8_0 : type;
        }
        if (category == Category.FfnDown)
        {
            int layer = state.FfnDownIndex++;
            int layers = facts.LayerCount;
            if (facts.ExpertCount > 1)
            {
                layer = LayerOf(tensor.Name); // experts are not consecutive: read the layer from the name
                if (layer < 0 || layer >= layers)
                {
                    throw new InvalidDataException($"Tensor '{tensor.Name}' is not in a layer 0..{layers - 1}.");
                }
            }
            bool moreBits = UseMoreBits(layer, layers);
            return preset switch
            {
                QuantizationPreset.Q2_K => GgmlType.Q3_K,
                QuantizationPreset.Q3_K_M => layer < layers / 16 ? GgmlType.Q5_K
                    : !falcon || moreBits ? GgmlType.Q4_K : GgmlType.Q3_K,
                QuantizationPreset.Q3_K_L => falcon ? GgmlType.Q4_K : GgmlType.Q5_K,
                QuantizationPreset.Q4_K_M when falcon => layer < layers / 16 ? GgmlType.Q6_K
                    : moreBits ? GgmlType.Q5_K : GgmlType.Q4_K,
                QuantizationPreset.Q4_K_M when moreBits => GgmlType.Q6_K,
                QuantizationPreset.Q5_K_M when moreBits => GgmlType.Q6_K,
                QuantizationPreset.Q4_K_S when !falcon && layer < layers / 8 => GgmlType.Q5_K,
                _ => type,
            };
        }
        if (category == Category.AttentionOutput)
        {
            if (falcon)
            {
                return preset == QuantizationPreset.Q3_K_L ? GgmlType.Q4_K : type;
            }
            if (facts.ExpertCount == 8)
            {
                return preset is QuantizationPreset.Q2_K or QuantizationPreset.Q3_K_S or QuantizationPreset.Q3_K_M
                    or QuantizationPreset.Q4_K_S or QuantizationPreset.Q4_K_M ? GgmlType.Q5_K : type;
            }
            return preset switch
            {
                QuantizationPreset.Q2_K => GgmlType.Q3_K,
                QuantizationPreset.Q3_K_M => GgmlType.Q4_K,
                QuantizationPreset.Q3_K_L => GgmlType.Q5_K,
                _ => type,
            };
        }
        return type;
    }
}

/// <summary>The hyper-parameters llama-quantize's rules look at, read from a model's metadata.</summary>
public sealed record ModelFacts(string Architecture, int LayerCount, int HeadCount, int KvHeadCount, int ExpertCount)
{
    /// <summary>Query heads per KV head (llama.cpp's n_gqa); 0 when unknown.</summary>
    public int GroupedQueryRatio => KvHeadCount > 0 ? HeadCount / KvHeadCount : 0;

    /// <summary>llama.cpp's LLM_TYPE_70B, which gets more bits for attn_v: an 80-layer llama with grouped-query attention.</summary>
    public bool Is70B => Architecture == "llama" && LayerCount == 80 && HeadCount != KvHeadCount;

    public static ModelFacts From(GgufFile model)
    {
        ArgumentNullException.ThrowIfNull(model);
        string architecture = model.GetValueOrDefault("general.architecture", "llama");
        int layers = ReadCount(model, architecture + ".block_count");
        int heads = ReadCount(model, architecture + ".attention.head_count");
        int kvHeads = ReadCount(model, architecture + ".attention.head_count_kv");
        return new ModelFacts(architecture, layers, heads, kvHeads == 0 ? heads : kvHeads,
            ReadCount(model, architecture + ".expert_count"));
    }

    /// <summary>A count stored as a scalar or, per layer, as an array (its first element); 0 when missing.</summary>
    private static int ReadCount(GgufFile model, string key)
    {
        if (model.TryGetValue(key, out int value))
        {
            return value;
        }
        if (model.Metadata.TryGetValue(key, out object? raw) && raw is GgufArray { Count: > 0 })
        {
            int[] values = model.GetArray<int>(key);
            return values[0];
        }
        return 0;
    }
}
