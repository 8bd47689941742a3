using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Model;

/// <summary>
/// The tensors of one transformer block ("blk.{Index}."), as views into the mapped file (matrices) or small
/// float copies (norm weights). Shapes are ggml's [ne0 = columns, ne1 = rows]: a matrix maps a row vector of
/// Columns inputs to Rows outputs.
/// </summary>
public sealed class LlamaLayerWeights
{
    internal LlamaLayerWeights(int index, float[] attentionNorm, WeightMatrix query, WeightMatrix key,
        WeightMatrix value, WeightMatrix attentionOutput, float[] feedForwardNorm, WeightMatrix gate,
        WeightMatrix up, WeightMatrix down, QueryKeyValueExtras? extras = null, WeightMatrix? queryKeyValue = null,
        WeightMatrix? gateUp = null, float[]? postAttentionNorm = null, float[]? postFeedForwardNorm = null)
    {
        PostAttentionNorm = postAttentionNorm;
        PostFeedForwardNorm = postFeedForwardNorm;
        QueryKeyValue = queryKeyValue;
        GateUp = gateUp;
        extras ??= QueryKeyValueExtras.None;
        QueryBias = extras.QueryBias;
        KeyBias = extras.KeyBias;
        ValueBias = extras.ValueBias;
        QueryNorm = extras.QueryNorm;
        KeyNorm = extras.KeyNorm;
        Index = index;
        AttentionNorm = attentionNorm;
        Query = query;
        Key = key;
        Value = value;
        AttentionOutput = attentionOutput;
        FeedForwardNorm = feedForwardNorm;
        Gate = gate;
        Up = up;
        Down = down;
    }

    /// <summary>Model-wide layer index.</summary>
    public int Index { get; }

    /// <summary>attn_norm.weight [n_embd]: scales the RMS-normalized block input.</summary>
    public float[] AttentionNorm { get; }

    /// <summary>attn_q.weight [n_embd, n_head * n_embd_head]: Qcur = Wq · attn_norm.</summary>
    public WeightMatrix Query { get; }

    /// <summary>attn_k.weight [n_embd, n_head_kv * n_embd_head]: Kcur = Wk · attn_norm.</summary>
    public WeightMatrix Key { get; }

    /// <summary>attn_v.weight [n_embd, n_head_kv * n_embd_head]: Vcur = Wv · attn_norm.</summary>
    public WeightMatrix Value { get; }

    /// <summary>attn_qkv.weight [n_embd, n_q + 2 n_kv] (phi3): Q, K and V in one product; Query/Key/Value are unused then.</summary>
    public WeightMatrix? QueryKeyValue { get; }

    /// <summary>ffn_up.weight [n_embd, 2 n_ff] (phi3): gate then up in one product; Gate/Up are unused then.</summary>
    public WeightMatrix? GateUp { get; }

    /// <summary>post_attention_norm.weight [n_embd] (gemma2): RMS-normalises attn_out before the residual add.</summary>
    public float[]? PostAttentionNorm { get; }

    /// <summary>post_ffw_norm.weight [n_embd] (gemma2): RMS-normalises ffn_out before the residual add.</summary>
    public float[]? PostFeedForwardNorm { get; }

    /// <summary>attn_q.bias [n_head * n_embd_head] (qwen2): added to Qcur; null where the architecture has none.</summary>
    public float[]? QueryBias { get; }

    /// <summary>attn_k.bias [n_head_kv * n_embd_head] (qwen2).</summary>
    public float[]? KeyBias { get; }

    /// <summary>attn_v.bias [n_head_kv * n_embd_head] (qwen2).</summary>
    public float[]? ValueBias { get; }

    /// <summary>attn_q_norm.weight [n_embd_head] (qwen3): scales each RMS-normalised head of Qcur before RoPE.</summary>
    public float[]? QueryNorm { get; }

    /// <summary>attn_k_norm.weight [n_embd_head] (qwen3).</summary>
    public float[]? KeyNorm { get; }

    /// <summary>attn_output.weight [n_head * n_embd_head, n_embd]: attn_out = Wo · kqv_out.</summary>
    public WeightMatrix AttentionOutput { get; }

    /// <summary>ffn_norm.weight [n_embd]: scales the RMS-normalized ffn_inp.</summary>
    public float[] FeedForwardNorm { get; }

    /// <summary>ffn_gate.weight [n_embd, n_ff]: ffn_gate = Wgate · ffn_norm.</summary>
    public WeightMatrix Gate { get; }

    /// <summary>ffn_up.weight [n_embd, n_ff]: ffn_up = Wup · ffn_norm.</summary>
    public WeightMatrix Up { get; }

    /// <summary>ffn_down.weight [n_ff, n_embd]: ffn_out = Wdown · (silu(ffn_gate) * ffn_up).</summary>
    public WeightMatrix Down { get; }
}

/// <summary>The optional per-block vectors some architectures add around Qcur, Kcur and Vcur.</summary>
internal sealed record QueryKeyValueExtras(float[]? QueryBias, float[]? KeyBias, float[]? ValueBias, float[]? QueryNorm, float[]? KeyNorm)
{
    public static QueryKeyValueExtras None { get; } = new(null, null, null, null, null);
}
