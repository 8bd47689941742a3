using System.Globalization;

namespace LlamaDist.Core.Model;

/// <summary>GGUF tensor names of the llama architecture, as llama.cpp's LLM_TENSOR_NAMES spell them.</summary>
public static class LlamaTensorNames
{
    /// <summary>token_embd.weight: [n_embd, n_vocab], row v is the embedding of token v.</summary>
    public const string TokenEmbedding = "token_embd.weight";

    /// <summary>output_norm.weight: [n_embd].</summary>
    public const string OutputNorm = "output_norm.weight";

    /// <summary>output.weight: [n_embd, n_vocab]; absent when tied to token_embd.weight.</summary>
    public const string Output = "output.weight";

    /// <summary>rope_freqs.weight [n_rot / 2]: llama 3 RoPE frequency factors, dividing each pair's angle.</summary>
    public const string RopeFrequencies = "rope_freqs.weight";

    /// <summary>rope_factors_long.weight / rope_factors_short.weight [n_rot / 2]: LongRoPE factors (Phi-3.5, Phi-3 128k).</summary>
    public const string RopeFactorsLong = "rope_factors_long.weight";

    public const string RopeFactorsShort = "rope_factors_short.weight";

    // Per-block suffixes after "blk.{layer}.".
    public const string AttentionNormSuffix = "attn_norm.weight";
    public const string QuerySuffix = "attn_q.weight";
    public const string QueryKeyValueSuffix = "attn_qkv.weight";
    public const string KeySuffix = "attn_k.weight";
    public const string ValueSuffix = "attn_v.weight";
    public const string AttentionOutputSuffix = "attn_output.weight";
    public const string FeedForwardNormSuffix = "ffn_norm.weight";
    public const string QueryBiasSuffix = "attn_q.bias";
    public const string KeyBiasSuffix = "attn_k.bias";
    public const string ValueBiasSuffix = "attn_v.bias";
    public const string QueryNormSuffix = "attn_q_norm.weight";
    public const string KeyNormSuffix = "attn_k_norm.weight";
    public const string PostAttentionNormSuffix = "post_attention_norm.weight";
    public const string PostFeedForwardNormSuffix = "post_ffw_norm.weight";
    public const string GateSuffix = "ffn_gate.weight";
    public const string UpSuffix = "ffn_up.weight";
    public const string DownSuffix = "ffn_down.weight";

    /// <summary>The block tensors the forward pass reads, in the order they are used.</summary>
    public static IReadOnlyList<string> BlockSuffixes { get; } =
    [
        AttentionNormSuffix, QuerySuffix, KeySuffix, ValueSuffix, AttentionOutputSuffix,
        FeedForwardNormSuffix, GateSuffix, UpSuffix, DownSuffix,
    ];

    /// <summary>The block's weight matrices (every suffix but the two norms), in the order they are used.</summary>
    public static IReadOnlyList<string> MatrixSuffixes { get; } =
    [
        QuerySuffix, KeySuffix, ValueSuffix, AttentionOutputSuffix, GateSuffix, UpSuffix, DownSuffix,
    ];

    /// <summary>"blk.{layer}." — the prefix of every tensor of one block.</summary>
    public static string BlockPrefix(int layer) => string.Create(CultureInfo.InvariantCulture, $"blk.{layer}.");

    /// <summary>"blk.{layer}.{suffix}".</summary>
    public static string Block(int layer, string suffix) => BlockPrefix(layer) + suffix;
}
