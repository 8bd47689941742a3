namespace LlamaDist.Core.Model;

/// <summary>
/// Receives each named intermediate of the forward pass as it is computed (see <see cref="TraceNames"/>).
/// </summary>
/// <param name="name">llama.cpp's name for the tensor ("attn_norm", "Qcur", "l_out", ...).</param>
/// <param name="layer">Model-wide layer index, or -1 for tensors outside the blocks (inp_embd, result_*).</param>
/// <param name="tokenCount">Tokens of the pass the values cover.</param>
/// <param name="values">The values, valid only during the call; layout given per name in <see cref="TraceNames"/>.</param>
public delegate void TraceHook(string name, int layer, int tokenCount, ReadOnlySpan<float> values);

/// <summary>
/// The intermediates reported to a <see cref="TraceHook"/>, in the order they are reported, named as llama.cpp's
/// graph callback names them. Widths: n_embd (E), n_head * n_embd_head (Q), n_head_kv * n_embd_head (KV), n_ff (F),
/// n_vocab (V); kvLength is the number of cached positions after the pass.
/// </summary>
public static class TraceNames
{
    /// <summary>[tokens, E] token embeddings (first range only; layer -1).</summary>
    public const string InputEmbedding = "inp_embd";

    /// <summary>[tokens, E] RMS-normalized block input times attn_norm.weight.</summary>
    public const string AttentionNorm = "attn_norm";

    /// <summary>[tokens, Q] queries after RoPE.</summary>
    public const string Query = "Qcur";

    /// <summary>[tokens, KV] keys after RoPE (before F16 rounding into the cache).</summary>
    public const string Key = "Kcur";

    /// <summary>[tokens, KV] values (before F16 rounding into the cache).</summary>
    public const string Value = "Vcur";

    /// <summary>[n_head, tokens, kvLength] unscaled q·k; positions after the token's own are -infinity (masked).</summary>
    public const string Scores = "kq";

    /// <summary>[n_head, tokens, kvLength] softmax(kq / sqrt(n_embd_head)) with the causal mask (masked = 0).</summary>
    public const string Probabilities = "kq_soft_max";

    /// <summary>[tokens, Q] attention output, heads merged, before Wo.</summary>
    public const string AttentionOutputMerged = "kqv_out";

    /// <summary>[tokens, E] Wo · kqv_out.</summary>
    public const string AttentionOutput = "attn_out";

    /// <summary>[tokens, E] block input + attn_out (first residual).</summary>
    public const string FeedForwardInput = "ffn_inp";

    /// <summary>[tokens, E] RMS-normalized ffn_inp times ffn_norm.weight.</summary>
    public const string FeedForwardNorm = "ffn_norm";

    /// <summary>[tokens, F] Wgate · ffn_norm.</summary>
    public const string Gate = "ffn_gate";

    /// <summary>[tokens, F] Wup · ffn_norm.</summary>
    public const string Up = "ffn_up";

    /// <summary>[tokens, F] silu(ffn_gate) * ffn_up.</summary>
    public const string SwiGlu = "ffn_swiglu";

    /// <summary>[tokens, E] Wdown · ffn_swiglu.</summary>
    public const string FeedForwardOutput = "ffn_out";

    /// <summary>[tokens, E] ffn_inp + ffn_out: the block output.</summary>
    public const string LayerOutput = "l_out";

    /// <summary>[outputs, E] final RMS norm times output_norm.weight (last range; layer -1).</summary>
    public const string ResultNorm = "result_norm";

    /// <summary>[outputs, V] logits (last range; layer -1).</summary>
    public const string ResultOutput = "result_output";

    /// <summary>The per-block names, in report order.</summary>
    public static IReadOnlyList<string> BlockOrder { get; } =
    [
        AttentionNorm, Query, Key, Value, Scores, Probabilities, AttentionOutputMerged, AttentionOutput,
        FeedForwardInput, FeedForwardNorm, Gate, Up, SwiGlu, FeedForwardOutput, LayerOutput,
    ];
}
