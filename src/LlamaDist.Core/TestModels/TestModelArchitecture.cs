namespace LlamaDist.Core.TestModels;

/// <summary>
/// The model families a synthetic model can imitate: each is written with the GGUF keys and tensors llama.cpp's
/// converter (convert_hf_to_gguf.py) produces for it (see <see cref="ArchitectureTraits.For"/>).
/// </summary>
public enum TestModelArchitecture
{
    /// <summary>Llama 2 / TinyLlama: general.architecture llama, separate output head, RoPE base 10000.</summary>
    Llama,

    /// <summary>Llama 3.x: llama keys, rope_freqs.weight with llama3 scaling factors, base 500000, tied embeddings.</summary>
    Llama3,

    /// <summary>Qwen 2 / 2.5: qwen2 keys, F32 biases on Q, K and V, RoPE base 1000000.</summary>
    Qwen2,

    /// <summary>Qwen 3: qwen3 keys, per-head Q/K RMS norms, explicit key_length, tied embeddings.</summary>
    Qwen3,

    /// <summary>Phi-3 mini: phi3 keys, fused attn_qkv, ffn_up holding gate then up, sliding_window.</summary>
    Phi3,

    /// <summary>
    /// Phi-3.5 mini (and Phi-3 128k): the Phi3 layout with LongRoPE, i.e. rope_factors_long / rope_factors_short
    /// tensors, rope.scaling.attn_factor, and an original context half the context.
    /// </summary>
    Phi35,

    /// <summary>Gemma 2: gemma2 keys, post-attention and post-FFN norms, soft-capping, sliding window, tied embeddings.</summary>
    Gemma2,

    /// <summary>Mistral 7B v0.2+: llama keys with llama.vocab_size and RoPE base 1000000.</summary>
    Mistral,
}
