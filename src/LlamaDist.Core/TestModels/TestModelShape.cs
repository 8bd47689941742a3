namespace LlamaDist.Core.TestModels;

/// <summary>
/// Hyper-parameters of a synthetic llama model. Every matrix row length (embedding, FFN, KV width) must be a
/// multiple of 32 so the model can be stored in Q8_0 / Q4_0.
/// </summary>
public sealed class TestModelShape
{
    /// <summary>The SentencePiece llama vocabulary size the presets assume (the embedded model's).</summary>
    public const int LlamaVocabularySize = 32000;

    public TestModelShape(int embeddingLength, int feedForwardLength, int layerCount, int headCount, int kvHeadCount,
        int vocabularySize, int contextLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(embeddingLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(feedForwardLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(layerCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(headCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(kvHeadCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabularySize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(contextLength, 1);
        if (embeddingLength % headCount != 0 || (embeddingLength / headCount) % 2 != 0)
        {
            throw new ArgumentException(
                $"Embedding length {embeddingLength} must split into {headCount} heads of an even size (RoPE rotates pairs).");
        }
        if (headCount % kvHeadCount != 0)
        {
            throw new ArgumentException($"Head count {headCount} must be a multiple of the KV head count {kvHeadCount}.");
        }
        EmbeddingLength = embeddingLength;
        FeedForwardLength = feedForwardLength;
        LayerCount = layerCount;
        HeadCount = headCount;
        KvHeadCount = kvHeadCount;
        VocabularySize = vocabularySize;
        ContextLength = contextLength;
    }

    public int EmbeddingLength { get; }

    public int FeedForwardLength { get; }

    public int LayerCount { get; }

    public int HeadCount { get; }

    public int KvHeadCount { get; }

    public int VocabularySize { get; }

    public int ContextLength { get; }

    /// <summary>Embedding / heads; also the RoPE dimension count.</summary>
    public int HeadDimension => EmbeddingLength / HeadCount;

    /// <summary>Width of the K and V projections: KV heads x head dimension.</summary>
    public int KvWidth => KvHeadCount * HeadDimension;

    public static TestModelShape For(TestModelPreset preset) => preset switch
    {
        TestModelPreset.Tiny => new(64, 192, 2, 4, 4, LlamaVocabularySize, 512),
        TestModelPreset.Small => new(256, 704, 4, 8, 2, LlamaVocabularySize, 1024),
        TestModelPreset.TinyLlama => new(2048, 5632, 22, 32, 4, LlamaVocabularySize, 2048),
        _ => throw new ArgumentOutOfRangeException(nameof(preset), preset, "Unknown test model preset."),
    };

    /// <summary>The same shape with another vocabulary size (the vocabulary file decides it).</summary>
    public TestModelShape WithVocabulary(int vocabularySize) =>
        new(EmbeddingLength, FeedForwardLength, LayerCount, HeadCount, KvHeadCount, vocabularySize, ContextLength);

    public override string ToString() =>
        $"embd {EmbeddingLength}, ffn {FeedForwardLength}, layers {LayerCount}, heads {HeadCount}/{KvHeadCount}, " +
        $"vocab {VocabularySize}, context {ContextLength}";
}
