using LlamaDist.Core.Model;

namespace LlamaDist.Distributed.Weights;

/// <summary>
/// The most data bytes a layer range's tensors can take, from the hyperparameters alone: every tensor the range
/// may hold at 4 bytes a value (F32, the widest type a model stores). A worker refuses a weight stream that
/// announces more before it writes a byte; the exact size is checked again, tensor by tensor, as data arrives.
/// Shapes: token_embd / output [n_embd, n_vocab]; per block two norms [n_embd], q and output [n_embd, n_q],
/// k and v [n_embd, n_kv], gate/up/down [n_embd, n_ff]; output_norm [n_embd].
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
            long perBlock = 2 * embd + 2 * embd * config.QueryWidth + 2 * embd * config.KvWidth + 3 * embd * config.FeedForwardLength;
            long values = perBlock * layers.Count;
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

    /// <summary>The most tensors a range can have: nine per block, plus the embedding, output norm and head.</summary>
    public static int MaximumTensorCount(LayerRange layers) => checked(LlamaTensorNames.BlockSuffixes.Count * layers.Count + 3);
}
