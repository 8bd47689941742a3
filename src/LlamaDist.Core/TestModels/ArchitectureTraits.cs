namespace LlamaDist.Core.TestModels;

/// <summary>
/// What llama.cpp's converter (convert_hf_to_gguf.py) writes for one model family, as far as a synthetic model
/// needs it: the general.architecture name (the prefix of every hyper-parameter key), which optional keys it
/// writes, the family's usual constants (RoPE base, RMS epsilon, soft-caps) and which tensors a block has.
/// Shapes come from <see cref="TestModelShape"/>; these traits only say how the family lays them out.
/// </summary>
public sealed record ArchitectureTraits
{
    /// <summary>general.architecture and the key prefix ("llama", "qwen2", ...).</summary>
    public required string GgufName { get; init; }

    /// <summary>general.name of the written file.</summary>
    public required string DisplayName { get; init; }

    /// <summary>&lt;arch&gt;.attention.layer_norm_rms_epsilon.</summary>
    public required float RmsEpsilon { get; init; }

    /// <summary>&lt;arch&gt;.rope.freq_base; null where the converter writes none (Gemma 2: llama.cpp's default 10000).</summary>
    public float? RopeFreqBase { get; init; }

    /// <summary>
    /// Head width as a multiple of embedding / heads. Qwen 3 and Gemma 2 have heads wider than that
    /// (Qwen3-0.6B: 1024 / 16 = 64 but head_dim 128), so Q is wider than the residual stream and the converter
    /// writes attention.key_length / value_length.
    /// </summary>
    public int HeadWidthMultiple { get; init; } = 1;

    /// <summary>Writes attention.key_length and attention.value_length (the checkpoint has head_dim).</summary>
    public bool WritesKeyLength { get; init; }

    /// <summary>Writes rope.dimension_count (LlamaModel and Phi3MiniModel do; Qwen and Gemma converters do not).</summary>
    public bool WritesRopeDimensionCount { get; init; }

    /// <summary>Writes &lt;arch&gt;.vocab_size (LlamaModel's set_gguf_parameters does).</summary>
    public bool WritesVocabularySize { get; init; }

    /// <summary>No output.weight: llama.cpp uses token_embd.weight as the output head.</summary>
    public bool TiedEmbeddings { get; init; }

    /// <summary>blk.N.attn_q.bias / attn_k.bias / attn_v.bias (F32), as Qwen 2 has.</summary>
    public bool AttentionBiases { get; init; }

    /// <summary>blk.N.attn_q_norm.weight / attn_k_norm.weight [head width], as Qwen 3 has.</summary>
    public bool QueryKeyNorms { get; init; }

    /// <summary>One blk.N.attn_qkv.weight [embd, embd + 2 kv] instead of Q, K and V (Phi-3).</summary>
    public bool FusedQkv { get; init; }

    /// <summary>blk.N.ffn_up.weight [embd, 2 ffn] holds gate rows then up rows; no ffn_gate (Phi-3).</summary>
    public bool FusedGateUp { get; init; }

    /// <summary>blk.N.post_attention_norm.weight and blk.N.post_ffw_norm.weight (Gemma 2).</summary>
    public bool PostNorms { get; init; }

    /// <summary>rope_freqs.weight [head width / 2] with Llama 3.1's scaling factors (<see cref="Llama3RopeFactors"/>).</summary>
    public bool Llama3RopeScaling { get; init; }

    /// <summary>rope.scaling.original_context_length for a shape (Phi-3); null writes none.</summary>
    public Func<TestModelShape, int>? OriginalContextLength { get; init; }

    /// <summary>
    /// rope_factors_long.weight / rope_factors_short.weight [head width / 2] and rope.scaling.attn_factor, as the
    /// converter writes them for a LongRoPE ("longrope" / "su") checkpoint (<see cref="LongRopeFactors"/>).
    /// </summary>
    public bool LongRope { get; init; }

    /// <summary>attention.sliding_window for a shape; null writes none.</summary>
    public Func<TestModelShape, int>? SlidingWindow { get; init; }

    /// <summary>&lt;arch&gt;.attn_logit_softcapping (Gemma 2: 50).</summary>
    public float? AttentionLogitSoftcap { get; init; }

    /// <summary>&lt;arch&gt;.final_logit_softcapping (Gemma 2: 30).</summary>
    public float? FinalLogitSoftcap { get; init; }

    /// <summary>The traits of <paramref name="architecture"/>.</summary>
    public static ArchitectureTraits For(TestModelArchitecture architecture) => architecture switch
    {
        // Kept exactly as the original synthetic llama model (Llama 2 / TinyLlama style).
        TestModelArchitecture.Llama => new()
        {
            GgufName = "llama", DisplayName = "LlamaDist synthetic llama", RmsEpsilon = 1e-5f, RopeFreqBase = 10000f,
            WritesRopeDimensionCount = true,
        },
        // Llama 3.1 / 3.2: rope_theta 500000, rope_scaling {rope_type llama3, factor 8, 1, 4, 8192}; 3.2 ties
        // the output head to the embeddings.
        TestModelArchitecture.Llama3 => new()
        {
            GgufName = "llama", DisplayName = "LlamaDist synthetic llama3", RmsEpsilon = 1e-5f, RopeFreqBase = 500000f,
            WritesRopeDimensionCount = true, WritesVocabularySize = true, TiedEmbeddings = true, Llama3RopeScaling = true,
        },
        // Qwen 2.5 7B style: biases on Q/K/V, rope_theta 1e6, rms_norm_eps 1e-6, separate output head.
        TestModelArchitecture.Qwen2 => new()
        {
            GgufName = "qwen2", DisplayName = "LlamaDist synthetic qwen2", RmsEpsilon = 1e-6f, RopeFreqBase = 1000000f,
            AttentionBiases = true,
        },
        // Qwen 3 0.6B-4B style: head_dim twice embedding / heads, Q/K norms, tied embeddings.
        TestModelArchitecture.Qwen3 => new()
        {
            GgufName = "qwen3", DisplayName = "LlamaDist synthetic qwen3", RmsEpsilon = 1e-6f, RopeFreqBase = 1000000f,
            HeadWidthMultiple = 2, WritesKeyLength = true, QueryKeyNorms = true, TiedEmbeddings = true,
        },
        // Phi-3 mini 4k: sliding_window 2047 of 4096 (context / 2 - 1), original context = context. The name
        // avoids "phi3" / "phi-3": llama.cpp then looks up Phi-3's own special tokens (<|endoftext|>), which the
        // SPM vocabulary kept here does not have, and refuses the file.
        TestModelArchitecture.Phi3 => new()
        {
            GgufName = "phi3", DisplayName = "LlamaDist synthetic Phi mini", RmsEpsilon = 1e-5f, RopeFreqBase = 10000f,
            WritesRopeDimensionCount = true, FusedQkv = true, FusedGateUp = true,
            OriginalContextLength = shape => shape.ContextLength, SlidingWindow = shape => shape.ContextLength / 2 - 1,
        },
        // Phi-3.5 mini: 131072 context over an original 4096, sliding_window 262144 (twice the context: no
        // window in effect). The original context written is half the context, so a test can run both
        // factor sets: llama.cpp takes the long factors when the context it is given exceeds the original.
        TestModelArchitecture.Phi35 => new()
        {
            GgufName = "phi3", DisplayName = "LlamaDist synthetic Phi mini long", RmsEpsilon = 1e-5f, RopeFreqBase = 10000f,
            WritesRopeDimensionCount = true, FusedQkv = true, FusedGateUp = true, LongRope = true,
            OriginalContextLength = shape => shape.ContextLength / LongRopeFactors.ContextScale,
            SlidingWindow = shape => shape.ContextLength * 2,
        },
        // Gemma 2: soft-caps 50 / 30, head_dim explicit, tied embeddings. The real window is half the context
        // (4096 of 8192); an eighth is written so that sequences of test length cross it on the sliding layers.
        // Gemma2Model writes no rope.freq_base and no query_pre_attn_scalar (llama.cpp scales attention by
        // 1/sqrt(head_dim), by 1/sqrt(embd/heads) for the 46-layer 27B). Its tokenizer.ggml.add_space_prefix
        // false belongs to Gemma's own vocabulary; the copied SPM vocabulary keeps its own tokenizer keys.
        TestModelArchitecture.Gemma2 => new()
        {
            GgufName = "gemma2", DisplayName = "LlamaDist synthetic gemma2", RmsEpsilon = 1e-6f,
            HeadWidthMultiple = 2, WritesKeyLength = true, TiedEmbeddings = true, PostNorms = true,
            AttentionLogitSoftcap = 50f, FinalLogitSoftcap = 30f, SlidingWindow = shape => shape.ContextLength / 8,
        },
        // Mistral 7B v0.2 / v0.3: a llama checkpoint with rope_theta 1e6. Its converter (LlamaModel) writes no
        // sliding window, and llama.cpp's llama architecture reads none.
        TestModelArchitecture.Mistral => new()
        {
            GgufName = "llama", DisplayName = "LlamaDist synthetic mistral", RmsEpsilon = 1e-5f, RopeFreqBase = 1000000f,
            WritesRopeDimensionCount = true, WritesVocabularySize = true,
        },
        _ => throw new ArgumentOutOfRangeException(nameof(architecture), architecture, "Unknown test model architecture."),
    };

    /// <summary>Per-head width of Q, K and V for <paramref name="shape"/>.</summary>
    public int HeadWidth(TestModelShape shape) => shape.HeadDimension * HeadWidthMultiple;

    /// <summary>Width of Q and of attn_output's input: heads x head width.</summary>
    public int QueryWidth(TestModelShape shape) => shape.HeadCount * HeadWidth(shape);

    /// <summary>Width of K and V: KV heads x head width.</summary>
    public int KvWidth(TestModelShape shape) => shape.KvHeadCount * HeadWidth(shape);
}
