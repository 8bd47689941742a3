using LlamaDist.Core.Model;

namespace LlamaDist.Distributed.Weights;

/// <summary>
/// The most data bytes a layer range's tensors can take, from the hyperparameters alone: every tensor the range
/// may hold at 4 bytes a value (F32, the widest type a model stores). A worker refuses a weight stream that
/// announces more before it writes a byte; the exact size is checked again, tensor by tensor, as data arrives.
/// Shapes: token_embd / output [n_embd, n_vocab]; per block two norms [n_embd], q and output [n_embd, n_q],
/// k and v [n_embd, n_kv], gate/up/down [n_embd, n_ff], the biases and head norms some architectures add;
/// output_norm [n_embd]; rope_freqs [n_rot / 2].
/// </summary>
public static class RangeByteBound
{
    /// <summary>The bound, or throws <see cref="OverflowException"/> for hyperparameters whose sizes overflow.</summary>
    public static long Maximum(LlamaConfig config, LayerRange layers)
    {
        ArgumentNullException.ThrowIfNull(config);
        checked
        {
            long embd = config.EmbeddingLength;
            long vocabularyMatrix = embd * config.VocabularySize;
            long perBlock = 2 * embd + 2 * embd * config.QueryWidth + 2 * embd * config.KvWidth + 3 * embd * config.FeedForwardLength
                + config.QueryWidth + 2L * config.KvWidth + 2L * config.HeadDimension;  // qwen2's biases, qwen3's head norms
            long values = perBlock * layers.Count + config.RopeDimensionCount;  // rope_freqs (llama 3) or the two LongRoPE factor sets
            if (layers.IncludesEmbedding)
            {
                values += vocabularyMatrix;
            }
            if (layers.IncludesOutput(config.LayerCount))
            {
                values += embd + 2 * vocabularyMatrix;  // output norm, the head, and token_embd when the head is tied to it
            }
            return values * sizeof(float);
        }
    }

    /// <summary>The most tensors a range can have: its architecture's per block, plus the embedding, output norm, head and shared ones.</summary>
    public static int MaximumTensorCount(LlamaConfig config, LayerRange layers) =>
        checked(config.Traits.BlockSuffixes.Count * layers.Count + 3 + config.Traits.SharedTensors.Count);
}
