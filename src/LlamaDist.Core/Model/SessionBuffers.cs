namespace LlamaDist.Core.Model;

/// <summary>
/// Activations of one micro-batch of up to <see cref="Rows"/> tokens, grown by the session (or batch) that owns
/// them and reused, so evaluating a token allocates nothing. Row t of each [Rows, width] buffer belongs to token t
/// of the micro-batch. Attention's per-head scratch is the session's own (<see cref="AttentionScratch"/>).
/// </summary>
internal sealed class SessionBuffers
{
    public SessionBuffers(LlamaConfig config, int rows)
    {
        Rows = rows;
        Residual = new PinnedArray<float>((long)rows * config.EmbeddingLength, "residual stream buffer");
        Normalized = new PinnedArray<float>((long)rows * config.EmbeddingLength, "norm buffer");
        Query = new PinnedArray<float>((long)rows * config.QueryWidth, "query buffer");
        Key = new PinnedArray<float>((long)rows * config.KvWidth, "key buffer");
        Value = new PinnedArray<float>((long)rows * config.KvWidth, "value buffer");
        AttentionOutput = new PinnedArray<float>((long)rows * config.QueryWidth, "attention output buffer");
        Projection = new PinnedArray<float>((long)rows * config.EmbeddingLength, "projection buffer");
        Gate = new PinnedArray<float>((long)rows * config.FeedForwardLength, "feed-forward gate buffer");
        Up = new PinnedArray<float>((long)rows * config.FeedForwardLength, "feed-forward up buffer");
        ModelArchitecture traits = config.Traits;
        long fusedWidth = Math.Max(traits.FusedQueryKeyValue ? config.QueryWidth + 2L * config.KvWidth : 0,
            traits.FusedGateUp ? 2L * config.FeedForwardLength : 0);
        Fused = new PinnedArray<float>(Math.Max(1, rows * fusedWidth), "fused product buffer");
    }
    /// <summary>The output of a fused product before it is split: [rows, n_q + 2 n_kv] or [rows, 2 n_ff] (phi3).</summary>
    public PinnedArray<float> Fused { get; }

    /// <summary>Tokens per micro-batch.</summary>
    public int Rows { get; }

    /// <summary>inpL / ffn_inp / l_out: the residual stream [rows, n_embd].</summary>
    public PinnedArray<float> Residual { get; }

    /// <summary>attn_norm, ffn_norm, result_norm [rows, n_embd].</summary>
    public PinnedArray<float> Normalized { get; }

    /// <summary>Qcur [rows, n_head * n_embd_head].</summary>
    public PinnedArray<float> Query { get; }

    /// <summary>Kcur [rows, n_head_kv * n_embd_head].</summary>
    public PinnedArray<float> Key { get; }

    /// <summary>Vcur [rows, n_head_kv * n_embd_head].</summary>
    public PinnedArray<float> Value { get; }

    /// <summary>kqv_out: attention output with heads merged [rows, n_head * n_embd_head].</summary>
    public PinnedArray<float> AttentionOutput { get; }

    /// <summary>attn_out (Wo · kqv_out) and ffn_out [rows, n_embd].</summary>
    public PinnedArray<float> Projection { get; }

    /// <summary>ffn_gate, then silu(gate) * up in place [rows, n_ff].</summary>
    public PinnedArray<float> Gate { get; }

    /// <summary>ffn_up [rows, n_ff].</summary>
    public PinnedArray<float> Up { get; }
}
