namespace LlamaDist.Core.Model;

/// <summary>How an architecture rotates query and key pairs (llama.cpp's rope types).</summary>
public enum RopeStyle
{
    /// <summary>GGML_ROPE_TYPE_NORM: adjacent values (2i, 2i + 1) of a head form a pair (llama, mistral).</summary>
    Normal,

    /// <summary>GGML_ROPE_TYPE_NEOX: value i pairs with value i + n_rot / 2 (qwen2, qwen3, phi3, gemma).</summary>
    NeoX,
}

/// <summary>
/// What one GGUF architecture ("general.architecture") changes in the shared decoder block, as llama.cpp builds it.
/// The forward pass is written once; each architecture is a row of this table, never a copy of the pass:
/// <code>
/// llama : Qcur = Wq·x                 RoPE normal; optional rope_freqs (llama 3) and tied output head
/// qwen2 : Qcur = Wq·x + bq (k, v too) RoPE NeoX
/// qwen3 : Qcur = rms_norm_head(Wq·x) * attn_q_norm (k too)  RoPE NeoX
/// phi3  : [Q|K|V] = Wqkv·x (one fused matrix), Q scaled by 1/sqrt(head_dim) after RoPE NeoX; [gate|up] = Wup·x
///         (fused), silu(gate) * up. Its sliding window is not applied, as llama.cpp no longer applies it either
///         (the converters record a window the models were not trained with)
/// gemma2: embeddings scaled by sqrt(n_embd); Q scaled after RoPE NeoX; attention scores soft-capped; even layers
///         attend over a sliding window; post-attention and post-FFN norms; GeGLU feed-forward (tanh GELU, through
///         ggml's f16 table); final logits soft-capped; tied output head
/// </code>
/// Every architecture reads its hyperparameters under "&lt;name&gt;." keys and may tie its output head to the
/// token embedding (output.weight absent).
/// </summary>
public sealed record ModelArchitecture
{
    /// <summary>The value of general.architecture, and the prefix of its hyperparameter keys.</summary>
    public required string Name { get; init; }

    public RopeStyle Rope { get; init; } = RopeStyle.Normal;

    /// <summary>blk.N.attn_q.bias, attn_k.bias, attn_v.bias [width] are added to Qcur, Kcur, Vcur.</summary>
    public bool QueryKeyValueBiases { get; init; }

    /// <summary>blk.N.attn_q_norm.weight, attn_k_norm.weight [head_dim]: each head of Qcur and Kcur is RMS-normalised.</summary>
    public bool QueryKeyNorms { get; init; }

    /// <summary>rope_freqs.weight [n_rot / 2] may divide the rotation angles (llama 3's long-context frequency factors).</summary>
    public bool RopeFrequencyFactors { get; init; }

    /// <summary>
    /// rope_factors_long/short.weight may divide the rotation angles (LongRoPE): the long ones when a session's
    /// context exceeds rope.scaling.original_context_length, with every cos/sin scaled by rope.scaling.attn_factor.
    /// </summary>
    public bool LongRopeFactors { get; init; }

    /// <summary>blk.N.attn_qkv.weight [n_embd, n_q + 2 n_kv] replaces attn_q/k/v: Q, K and V are its output's column blocks.</summary>
    public bool FusedQueryKeyValue { get; init; }

    /// <summary>blk.N.ffn_up.weight [n_embd, 2 n_ff] holds gate then up, and there is no ffn_gate.</summary>
    public bool FusedGateUp { get; init; }

    /// <summary>Q is multiplied by 1/sqrt(head_dim) after RoPE and the attention scores are not scaled again (phi3, gemma2).</summary>
    public bool ScalesQuery { get; init; }

    /// <summary>The token embeddings are multiplied by sqrt(n_embd) (gemma).</summary>
    public bool ScalesEmbedding { get; init; }

    /// <summary>blk.N.post_attention_norm.weight and post_ffw_norm.weight RMS-normalise each sub-layer's output before its residual add.</summary>
    public bool PostNorms { get; init; }

    /// <summary>The feed-forward is GeGLU (tanh GELU of the gate) instead of SwiGLU.</summary>
    public bool GeluFeedForward { get; init; }

    /// <summary>Attention scores and final logits are soft-capped (cap * tanh(x / cap)) by "&lt;name&gt;.*_logit_softcapping".</summary>
    public bool SoftCapping { get; init; }

    /// <summary>Even layers attend only to the last "&lt;name&gt;.attention.sliding_window" positions (gemma2's alternating pattern).</summary>
    public bool SlidingWindowOnEvenLayers { get; init; }


    public static ModelArchitecture Llama { get; } = new() { Name = "llama", RopeFrequencyFactors = true };

    public static ModelArchitecture Qwen2 { get; } = new() { Name = "qwen2", Rope = RopeStyle.NeoX, QueryKeyValueBiases = true };

    public static ModelArchitecture Qwen3 { get; } = new() { Name = "qwen3", Rope = RopeStyle.NeoX, QueryKeyNorms = true };

    public static ModelArchitecture Phi3 { get; } = new()
    {
        Name = "phi3", Rope = RopeStyle.NeoX, FusedQueryKeyValue = true, FusedGateUp = true, ScalesQuery = true, LongRopeFactors = true,
    };

    public static ModelArchitecture Gemma2 { get; } = new()
    {
        Name = "gemma2", Rope = RopeStyle.NeoX, ScalesQuery = true, ScalesEmbedding = true, PostNorms = true, GeluFeedForward = true,
        SoftCapping = true, SlidingWindowOnEvenLayers = true,
    };

    /// <summary>The architectures this engine runs, by name.</summary>
    public static IReadOnlyDictionary<string, ModelArchitecture> Supported { get; } =
        new[] { Llama, Qwen2, Qwen3, Phi3, Gemma2 }.ToDictionary(architecture => architecture.Name, StringComparer.Ordinal);

    /// <summary>The architecture named <paramref name="name"/>, or <see cref="UnsupportedModelException"/> listing the supported ones.</summary>
    public static ModelArchitecture For(string name) =>
        Supported.TryGetValue(name, out var architecture) ? architecture
            : throw new UnsupportedModelException(
                $"Model architecture '{name}' is not supported; LlamaDist runs {string.Join(", ", Supported.Keys.Select(k => $"'{k}'"))}.",
                tensorName: null, tensorType: null, architecture: name);

    /// <summary>The block tensor suffixes (after "blk.N.") this architecture reads, in the order they are used.</summary>
    public IReadOnlyList<string> BlockSuffixes
    {
        get
        {
            var suffixes = new List<string> { LlamaTensorNames.AttentionNormSuffix };
            suffixes.AddRange(MatrixSuffixes.Take(FusedQueryKeyValue ? 1 : 3));
            if (QueryKeyValueBiases)
            {
                suffixes.AddRange([LlamaTensorNames.QueryBiasSuffix, LlamaTensorNames.KeyBiasSuffix, LlamaTensorNames.ValueBiasSuffix]);
            }
            if (QueryKeyNorms)
            {
                suffixes.AddRange([LlamaTensorNames.QueryNormSuffix, LlamaTensorNames.KeyNormSuffix]);
            }
            if (PostNorms)
            {
                suffixes.Add(LlamaTensorNames.PostAttentionNormSuffix);
            }
            suffixes.Add(LlamaTensorNames.FeedForwardNormSuffix);
            suffixes.AddRange(MatrixSuffixes.Skip(FusedQueryKeyValue ? 1 : 3));
            if (PostNorms)
            {
                suffixes.Add(LlamaTensorNames.PostFeedForwardNormSuffix);
            }
            return suffixes;
        }
    }

    /// <summary>The block's weight matrices, in the order they are used.</summary>
    public IReadOnlyList<string> MatrixSuffixes
    {
        get
        {
            var suffixes = new List<string>();
            if (FusedQueryKeyValue)
            {
                suffixes.Add(LlamaTensorNames.QueryKeyValueSuffix);
            }
            else
            {
                suffixes.AddRange([LlamaTensorNames.QuerySuffix, LlamaTensorNames.KeySuffix, LlamaTensorNames.ValueSuffix]);
            }
            suffixes.Add(LlamaTensorNames.AttentionOutputSuffix);
            if (!FusedGateUp)
            {
                suffixes.Add(LlamaTensorNames.GateSuffix);
            }
            suffixes.AddRange([LlamaTensorNames.UpSuffix, LlamaTensorNames.DownSuffix]);
            return suffixes;
        }
    }

    /// <summary>Model-wide tensors besides the embedding, output norm and head that every range needs.</summary>
    public IReadOnlyList<string> SharedTensors =>
        RopeFrequencyFactors ? [LlamaTensorNames.RopeFrequencies]
        : LongRopeFactors ? [LlamaTensorNames.RopeFactorsLong, LlamaTensorNames.RopeFactorsShort]
        : [];
}
