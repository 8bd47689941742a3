using System.Globalization;
using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Model;

/// <summary>
/// Hyper-parameters of a llama-family decoder (llama, qwen2, qwen3: see <see cref="ModelArchitecture"/>), read from
/// GGUF metadata the way llama.cpp's llama_model_load_hparams reads them (keys prefixed by general.architecture)
/// and checked for consistency before any tensor is touched.
/// </summary>
public sealed class LlamaConfig
{
    /// <summary>The llama architecture's name, the default of synthetic configurations.</summary>
    public const string LlamaArchitecture = "llama";

    private const float DefaultRopeFreqBase = 10000f;

    /// <summary>
    /// Builds a configuration from explicit values (tests, synthetic models). Inconsistent values throw
    /// <see cref="ArgumentException"/> with the same explanation <see cref="FromGguf"/> gives.
    /// </summary>
    /// <param name="headDimension">Per-head width; 0 means embeddingLength / headCount.</param>
    /// <param name="ropeDimensionCount">Rotated dimensions per head; 0 means the head dimension.</param>
    public LlamaConfig(int embeddingLength, int layerCount, int feedForwardLength, int headCount, int kvHeadCount,
        float rmsEpsilon, int contextLength, int vocabularySize, int headDimension = 0, float ropeFreqBase = DefaultRopeFreqBase,
        int ropeDimensionCount = 0, string architecture = LlamaArchitecture, int slidingWindow = 0,
        float attentionSoftCap = 0f, float finalSoftCap = 0f, int ropeOriginalContext = 0, float ropeAttentionFactor = 1f)
    {
        Architecture = architecture;
        RopeOriginalContext = ropeOriginalContext > 0 ? ropeOriginalContext : contextLength;
        RopeAttentionFactor = ropeAttentionFactor;
        SlidingWindow = slidingWindow;
        AttentionSoftCap = attentionSoftCap;
        FinalSoftCap = finalSoftCap;
        EmbeddingLength = embeddingLength;
        LayerCount = layerCount;
        FeedForwardLength = feedForwardLength;
        HeadCount = headCount;
        KvHeadCount = kvHeadCount;
        HeadDimension = headDimension != 0 || headCount <= 0 ? headDimension : embeddingLength / headCount;
        RmsEpsilon = rmsEpsilon;
        RopeFreqBase = ropeFreqBase;
        RopeDimensionCount = ropeDimensionCount != 0 ? ropeDimensionCount : HeadDimension;
        ContextLength = contextLength;
        VocabularySize = vocabularySize;

        string? problem = FindInconsistency(explicitHeadDimension: headDimension != 0);
        if (problem is not null)
        {
            throw new ArgumentException(problem);
        }
    }

    /// <summary>
    /// n_swa: on the layers the architecture windows (gemma2: even ones), attention reaches back over at most this
    /// many positions, the token's own included; 0 means the whole context.
    /// </summary>
    public int SlidingWindow { get; }

    /// <summary>rope.scaling.original_context_length: LongRoPE's long factors apply to sessions longer than this.</summary>
    public int RopeOriginalContext { get; }

    /// <summary>rope.scaling.attn_factor: every RoPE cos/sin is multiplied by it (LongRoPE); 1 otherwise.</summary>
    public float RopeAttentionFactor { get; }

    /// <summary>Cap of the attention scores (gemma2's attn_logit_softcapping); 0: none.</summary>
    public float AttentionSoftCap { get; }

    /// <summary>Cap of the output logits (gemma2's final_logit_softcapping); 0: none.</summary>
    public float FinalSoftCap { get; }

    /// <summary>
    /// The factor Q is multiplied by after RoPE where the architecture scales the query itself: 1/sqrt(head_dim),
    /// except Gemma 2 27B (46 layers), whose query_pre_attn_scalar is n_embd / n_head, as llama.cpp decides it.
    /// </summary>
    public float QueryScale => Architecture == ModelArchitecture.Gemma2.Name && LayerCount == 46
        ? 1f / MathF.Sqrt(EmbeddingLength / HeadCount)
        : 1f / MathF.Sqrt(HeadDimension);

    /// <summary>Whether model-wide layer <paramref name="layer"/> attends over the sliding window.</summary>
    public bool UsesSlidingWindow(int layer) => SlidingWindow > 0 && Traits.SlidingWindowOnEvenLayers && layer % 2 == 0;

    /// <summary>What the architecture changes in the block (biases, norms, RoPE style).</summary>
    public ModelArchitecture Traits => ModelArchitecture.For(Architecture);

    /// <summary>general.architecture ("llama", "qwen2", "qwen3").</summary>
    public string Architecture { get; }

    /// <summary>n_embd: width of the residual stream (llama.embedding_length).</summary>
    public int EmbeddingLength { get; }

    /// <summary>n_layer: transformer blocks (llama.block_count).</summary>
    public int LayerCount { get; }

    /// <summary>n_ff: hidden width of the SwiGLU feed-forward (llama.feed_forward_length).</summary>
    public int FeedForwardLength { get; }

    /// <summary>n_head: query heads (llama.attention.head_count).</summary>
    public int HeadCount { get; }

    /// <summary>n_head_kv: key/value heads (llama.attention.head_count_kv, default n_head); fewer = GQA.</summary>
    public int KvHeadCount { get; }

    /// <summary>n_embd_head: width of one head (llama.attention.key_length, default n_embd / n_head).</summary>
    public int HeadDimension { get; }

    /// <summary>f_norm_rms_eps (llama.attention.layer_norm_rms_epsilon).</summary>
    public float RmsEpsilon { get; }

    /// <summary>RoPE theta base (llama.rope.freq_base, default 10000).</summary>
    public float RopeFreqBase { get; }

    /// <summary>n_rot: dimensions of each head that RoPE rotates (llama.rope.dimension_count, default head dim).</summary>
    public int RopeDimensionCount { get; }

    /// <summary>n_ctx_train: the context the model was trained with (llama.context_length).</summary>
    public int ContextLength { get; }

    /// <summary>n_vocab: rows of token_embd.weight.</summary>
    public int VocabularySize { get; }

    /// <summary>Width of Qcur and of the attention output: n_head * n_embd_head.</summary>
    public int QueryWidth => HeadCount * HeadDimension;

    /// <summary>Width of Kcur / Vcur and of one KV cache row: n_head_kv * n_embd_head (n_embd_k_gqa).</summary>
    public int KvWidth => KvHeadCount * HeadDimension;

    /// <summary>Query heads sharing one KV head (n_gqa); query head h reads KV head h / this.</summary>
    public int HeadsPerKvHead => HeadCount / KvHeadCount;

    /// <summary>
    /// Reads and validates the hyper-parameters of a llama GGUF. Another architecture, rope scaling or
    /// inconsistent sizes throw <see cref="UnsupportedModelException"/>; a missing required key or a value of the
    /// wrong kind throws <see cref="GgufFormatException"/> naming the key.
    /// </summary>
    public static LlamaConfig FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        string architecture = file.GetValue<string>("general.architecture");
        ModelArchitecture traits = ModelArchitecture.For(architecture);
        string prefix = architecture + ".";

        int embeddingLength = file.GetValue<int>(prefix + "embedding_length");
        int layerCount = file.GetValue<int>(prefix + "block_count");
        int feedForwardLength = file.GetValue<int>(prefix + "feed_forward_length");
        int headCount = file.GetValue<int>(prefix + "attention.head_count");
        int kvHeadCount = file.GetValueOrDefault(prefix + "attention.head_count_kv", headCount);
        float rmsEpsilon = file.GetValue<float>(prefix + "attention.layer_norm_rms_epsilon");
        float ropeFreqBase = file.GetValueOrDefault(prefix + "rope.freq_base", DefaultRopeFreqBase);
        int contextLength = file.GetValue<int>(prefix + "context_length");

        int headDimension = file.GetValueOrDefault(prefix + "attention.key_length", 0);
        int valueLength = file.GetValueOrDefault(prefix + "attention.value_length", headDimension);
        if (valueLength != headDimension)
        {
            throw new UnsupportedModelException(
                $"Key and value heads of different widths ({headDimension} and {valueLength}) are not supported.");
        }
        bool explicitHeadDimension = headDimension != 0;
        if (!explicitHeadDimension && headCount > 0)
        {
            headDimension = embeddingLength / headCount;
        }
        int ropeDimensionCount = file.GetValueOrDefault(prefix + "rope.dimension_count", headDimension);

        RejectRopeScaling(file, prefix, traits);
        int slidingWindow = traits.SlidingWindowOnEvenLayers ? file.GetValueOrDefault(prefix + "attention.sliding_window", 0) : 0;
        float attentionSoftCap = traits.SoftCapping ? file.GetValueOrDefault(prefix + "attn_logit_softcapping", 0f) : 0f;
        float finalSoftCap = traits.SoftCapping ? file.GetValueOrDefault(prefix + "final_logit_softcapping", 0f) : 0f;
        int ropeOriginalContext = file.GetValueOrDefault(prefix + "rope.scaling.original_context_length", contextLength);
        float ropeAttentionFactor = traits.LongRopeFactors ? file.GetValueOrDefault(prefix + "rope.scaling.attn_factor", 1f) : 1f;
        RejectExperts(file, prefix);

        int vocabularySize = ReadVocabularySize(file, embeddingLength);
        // Optional, but when present it must agree: a file whose header says 2^31 tokens and whose embeddings
        // say 32000 is corrupt, whichever is right.
        long declaredVocabulary = file.GetValueOrDefault(prefix + "vocab_size", (long)vocabularySize);
        if (declaredVocabulary != vocabularySize)
        {
            throw new GgufFormatException(file.FilePath, -1,
                $"metadata key '{prefix}vocab_size' is {declaredVocabulary} but tensor '{LlamaTensorNames.TokenEmbedding}' has {vocabularySize} rows.");
        }

        var config = new LlamaConfig(architecture, embeddingLength, layerCount, feedForwardLength, headCount,
            kvHeadCount, headDimension, rmsEpsilon, ropeFreqBase, ropeDimensionCount, contextLength, vocabularySize, slidingWindow, attentionSoftCap, finalSoftCap,
            ropeOriginalContext, ropeAttentionFactor);
        string? problem = config.FindInconsistency(explicitHeadDimension);
        if (problem is not null)
        {
            throw new UnsupportedModelException(problem);
        }
        return config;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Architecture}: {LayerCount} layers, embd {EmbeddingLength}, ffn {FeedForwardLength}, heads {HeadCount}/{KvHeadCount} x {HeadDimension}, " +
        $"rope {RopeDimensionCount} @ {RopeFreqBase}, eps {RmsEpsilon}, ctx {ContextLength}, vocab {VocabularySize}");

    // Unvalidated constructor for FromGguf, which reports problems as UnsupportedModelException instead.
    private LlamaConfig(string architecture, int embeddingLength, int layerCount, int feedForwardLength, int headCount,
        int kvHeadCount, int headDimension, float rmsEpsilon, float ropeFreqBase, int ropeDimensionCount,
        int contextLength, int vocabularySize, int slidingWindow, float attentionSoftCap, float finalSoftCap,
        int ropeOriginalContext, float ropeAttentionFactor)
    {
        Architecture = architecture;
        RopeOriginalContext = ropeOriginalContext;
        RopeAttentionFactor = ropeAttentionFactor;
        SlidingWindow = slidingWindow;
        AttentionSoftCap = attentionSoftCap;
        FinalSoftCap = finalSoftCap;
        EmbeddingLength = embeddingLength;
        LayerCount = layerCount;
        FeedForwardLength = feedForwardLength;
        HeadCount = headCount;
        KvHeadCount = kvHeadCount;
        HeadDimension = headDimension;
        RmsEpsilon = rmsEpsilon;
        RopeFreqBase = ropeFreqBase;
        RopeDimensionCount = ropeDimensionCount;
        ContextLength = contextLength;
        VocabularySize = vocabularySize;
    }

    /// <summary>A sentence describing the first inconsistency, or null when the sizes fit together.</summary>
    private string? FindInconsistency(bool explicitHeadDimension)
    {
        if (!ModelArchitecture.Supported.ContainsKey(Architecture))
            return $"Model architecture '{Architecture}' is not supported; LlamaDist runs {string.Join(", ", ModelArchitecture.Supported.Keys)}.";
        if (EmbeddingLength <= 0)
            return $"Embedding length must be positive, not {EmbeddingLength}.";
        if (LayerCount <= 0)
            return $"Block count must be positive, not {LayerCount}.";
        if (FeedForwardLength <= 0)
            return $"Feed-forward length must be positive, not {FeedForwardLength}.";
        if (HeadCount <= 0)
            return $"Attention head count must be positive, not {HeadCount}.";
        if (KvHeadCount <= 0)
            return $"KV head count must be positive, not {KvHeadCount}.";
        if (!explicitHeadDimension && EmbeddingLength % HeadCount != 0)
            return $"Embedding length {EmbeddingLength} is not divisible by the head count {HeadCount}.";
        if (HeadCount % KvHeadCount != 0)
            return $"Head count {HeadCount} is not divisible by the KV head count {KvHeadCount}.";
        if (HeadDimension <= 0)
            return $"Head dimension must be positive, not {HeadDimension}.";
        if (RopeDimensionCount <= 0 || RopeDimensionCount > HeadDimension || RopeDimensionCount % 2 != 0)
            return $"RoPE dimension count {RopeDimensionCount} must be even and in (0, {HeadDimension}] (the head dimension).";
        if (!(RmsEpsilon > 0f) || !float.IsFinite(RmsEpsilon))
            return $"RMS norm epsilon must be a positive number, not {RmsEpsilon.ToString(CultureInfo.InvariantCulture)}.";
        if (!(RopeFreqBase > 0f) || !float.IsFinite(RopeFreqBase))
            return $"RoPE frequency base must be a positive number, not {RopeFreqBase.ToString(CultureInfo.InvariantCulture)}.";
        if (ContextLength <= 0)
            return $"Context length must be positive, not {ContextLength}.";
        if (VocabularySize <= 0)
            return $"Vocabulary size must be positive, not {VocabularySize}.";
        if (RopeOriginalContext <= 0 || !(RopeAttentionFactor > 0f) || !float.IsFinite(RopeAttentionFactor))
            return $"RoPE original context {RopeOriginalContext} and attention factor {RopeAttentionFactor} must be positive.";
        if (SlidingWindow < 0 || (SlidingWindow > 0 && !Traits.SlidingWindowOnEvenLayers))
            return $"A sliding window of {SlidingWindow} does not apply to '{Architecture}' models.";
        if (!(AttentionSoftCap >= 0f) || !(FinalSoftCap >= 0f) || ((AttentionSoftCap > 0f || FinalSoftCap > 0f) && !Traits.SoftCapping))
            return $"Soft-capping ({AttentionSoftCap}, {FinalSoftCap}) does not apply to '{Architecture}' models.";
        if ((long)HeadCount * HeadDimension > int.MaxValue / 4)
            return $"{HeadCount} heads of {HeadDimension} are too wide.";
        return null;
    }

    /// <summary>n_vocab is the row count of token_embd.weight, whose rows must be n_embd wide.</summary>
    private static int ReadVocabularySize(GgufFile file, int embeddingLength)
    {
        GgufTensorInfo embedding = file.FindTensor(LlamaTensorNames.TokenEmbedding)
            ?? throw new UnsupportedModelException(
                $"Tensor '{LlamaTensorNames.TokenEmbedding}' is missing; a llama model needs its token embeddings.",
                LlamaTensorNames.TokenEmbedding);
        if (embedding.Dimensions.Length == 2 && embedding.Dimensions[0] == embeddingLength && embedding.Dimensions[1] > int.MaxValue)
        {
            throw new GgufFormatException(file.FilePath, -1,
                $"tensor '{embedding.Name}' claims {embedding.Dimensions[1]} vocabulary rows, more than a vocabulary can have.");
        }
        if (embedding.Dimensions.Length != 2 || embedding.Dimensions[0] != embeddingLength || embedding.Dimensions[1] <= 0)
        {
            throw new UnsupportedModelException(
                $"Tensor '{embedding.Name}' has shape [{string.Join(", ", embedding.Dimensions)}]; expected " +
                $"[{embeddingLength}, n_vocab] for an embedding length of {embeddingLength}.",
                embedding.Name);
        }
        return (int)embedding.Dimensions[1];
    }

    /// <summary>
    /// The forward pass applies unscaled RoPE, with llama 3's per-pair frequency factors (rope_freqs.weight) where
    /// the architecture has them; scaled variants (linear, YaRN) would give wrong outputs silently, so they are
    /// refused. A scaling type of "none" or a factor of 1 is plain RoPE.
    /// </summary>
    private static void RejectRopeScaling(GgufFile file, string prefix, ModelArchitecture traits)
    {
        string scalingType = file.GetValueOrDefault(prefix + "rope.scaling.type", "none");
        float factor = file.GetValueOrDefault(prefix + "rope.scaling.factor", 1f);
        if (scalingType != "none" && factor != 0f && factor != 1f)
        {
            throw new UnsupportedModelException(
                $"RoPE scaling '{scalingType}' with factor {factor.ToString(CultureInfo.InvariantCulture)} is not supported; " +
                "only unscaled RoPE is implemented.");
        }
        if (file.FindTensor(LlamaTensorNames.RopeFrequencies) is not null && !traits.RopeFrequencyFactors)
        {
            throw new UnsupportedModelException(
                $"Tensor '{LlamaTensorNames.RopeFrequencies}' (RoPE frequency factors) is not supported for '{traits.Name}' models.",
                LlamaTensorNames.RopeFrequencies);
        }
    }

    private static void RejectExperts(GgufFile file, string prefix)
    {
        int experts = file.GetValueOrDefault(prefix + "expert_count", 0);
        if (experts > 0)
        {
            throw new UnsupportedModelException(
                $"Mixture-of-experts models ({experts} experts) are not supported.");
        }
    }
}
