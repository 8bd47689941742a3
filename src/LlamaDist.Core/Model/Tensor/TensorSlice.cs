using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Model.Tensor;

/// <summary>
/// The part of every layer one tensor-parallel shard computes, as Megatron-LM and distributed-llama divide a
/// llama block between nodes:
/// <code>
/// attention  : KV heads [KvHeadStart, +KvHeadCount) and the query heads that read them
///              Wq, Wk, Wv  row blocks (outputs of those heads)        -> Qcur, Kcur, Vcur of the shard's heads
///              Wo          column block (inputs from those heads)     -> partial attn_out [n_embd], summed over shards
/// feed-forward: hidden units [FeedForwardStart, +FeedForwardCount)
///              Wgate, Wup  row blocks                                 -> the shard's part of ffn_swiglu
///              Wdown       column block                               -> partial ffn_out [n_embd], summed over shards
/// output head: vocabulary rows [VocabularyStart, +VocabularyCount)    -> the shard's part of the logits
/// </code>
/// A column block of a quantized matrix must start and end on block boundaries (the product quantizes the
/// activations per block), so head and hidden-unit boundaries are placed on multiples of the block size of
/// Wo and Wdown. Every shard holds at least one KV head and one feed-forward block.
/// </summary>
public sealed record TensorSlice
{
    /// <summary>This shard's index in [0, <see cref="ShardCount"/>).</summary>
    public required int ShardIndex { get; init; }

    public required int ShardCount { get; init; }

    public required int KvHeadStart { get; init; }

    public required int KvHeadCount { get; init; }

    /// <summary>First query head: KvHeadStart × heads per KV head.</summary>
    public required int HeadStart { get; init; }

    public required int HeadCount { get; init; }

    public required int FeedForwardStart { get; init; }

    public required int FeedForwardCount { get; init; }

    public required int VocabularyStart { get; init; }

    public required int VocabularyCount { get; init; }

    /// <summary>
    /// The slices of all <paramref name="shardCount"/> shards, in shard order, covering every head, hidden unit and
    /// vocabulary row exactly once. <paramref name="shares"/> (optional, one positive number per shard) gives
    /// faster shards proportionally more heads and hidden units; by default they are equal.
    /// <paramref name="attentionOutputType"/> / <paramref name="downType"/> are the storage types of Wo and Wdown,
    /// whose block sizes the boundaries respect. Throws <see cref="TensorSplitException"/> when the model cannot
    /// be divided so.
    /// </summary>
    public static IReadOnlyList<TensorSlice> Plan(LlamaConfig config, int shardCount, GgmlType attentionOutputType,
        GgmlType downType, IReadOnlyList<double>? shares = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(shardCount);
        double[] weights = Shares(shares, shardCount);

        // Heads move in groups whose Wo columns are whole blocks: g KV heads, g × n_gqa × head_dim columns.
        int kvHeadColumns = config.HeadsPerKvHead * config.HeadDimension;
        int woBlock = GgmlTypeInfo.BlockSize(attentionOutputType);
        int headGroup = 1;
        while ((long)headGroup * kvHeadColumns % woBlock != 0)
        {
            headGroup++;
        }
        if (config.KvHeadCount % headGroup != 0 || config.KvHeadCount / headGroup < shardCount)
        {
            throw new TensorSplitException(
                $"The model has {config.KvHeadCount} KV heads, which cannot be divided between {shardCount} shards " +
                $"(each shard needs at least {headGroup} KV head(s) so that its columns of attn_output " +
                $"({GgmlTypeInfo.Name(attentionOutputType)}, blocks of {woBlock}) are whole blocks). " +
                $"Use at most {config.KvHeadCount / headGroup} tensor-parallel workers or a layer split.");
        }

        int downBlock = GgmlTypeInfo.BlockSize(downType);
        if (config.FeedForwardLength % downBlock != 0 || config.FeedForwardLength / downBlock < shardCount)
        {
            throw new TensorSplitException(
                $"The feed-forward width {config.FeedForwardLength} holds {config.FeedForwardLength / downBlock} blocks of " +
                $"{downBlock} ({GgmlTypeInfo.Name(downType)} ffn_down), fewer than the {shardCount} shards; use fewer " +
                "tensor-parallel workers or a layer split.");
        }
        if (config.VocabularySize < shardCount)
        {
            throw new TensorSplitException($"A vocabulary of {config.VocabularySize} tokens cannot be divided between {shardCount} shards.");
        }

        int[] headGroups = Divide(config.KvHeadCount / headGroup, weights);
        int[] downBlocks = Divide(config.FeedForwardLength / downBlock, weights);
        int[] vocabulary = Divide(config.VocabularySize, weights);

        var slices = new TensorSlice[shardCount];
        int kvStart = 0, ffStart = 0, vocabularyStart = 0;
        for (int shard = 0; shard < shardCount; shard++)
        {
            int kvCount = headGroups[shard] * headGroup;
            int ffCount = downBlocks[shard] * downBlock;
            slices[shard] = new TensorSlice
            {
                ShardIndex = shard,
                ShardCount = shardCount,
                KvHeadStart = kvStart,
                KvHeadCount = kvCount,
                HeadStart = kvStart * config.HeadsPerKvHead,
                HeadCount = kvCount * config.HeadsPerKvHead,
                FeedForwardStart = ffStart,
                FeedForwardCount = ffCount,
                VocabularyStart = vocabularyStart,
                VocabularyCount = vocabulary[shard],
            };
            kvStart += kvCount;
            ffStart += ffCount;
            vocabularyStart += vocabulary[shard];
        }
        return slices;
    }

    /// <summary>
    /// Splits <paramref name="units"/> into one positive count per weight, proportional to the weights (largest
    /// remainders first, earlier shard on a tie), every count at least 1. Requires units ≥ weights.Length.
    /// </summary>
    internal static int[] Divide(int units, IReadOnlyList<double> weights)
    {
        int parts = weights.Count;
        double total = 0;
        foreach (double weight in weights)
        {
            total += weight;
        }
        var counts = new int[parts];
        var remainders = new double[parts];
        int spare = units - parts; // every part gets one unit first
        int given = 0;
        for (int i = 0; i < parts; i++)
        {
            double exact = spare * weights[i] / total;
            counts[i] = 1 + (int)Math.Floor(exact);
            remainders[i] = exact - Math.Floor(exact);
            given += counts[i];
        }
        while (given < units)
        {
            int best = 0;
            for (int i = 1; i < parts; i++)
            {
                if (remainders[i] > remainders[best])
                {
                    best = i;
                }
            }
            counts[best]++;
            remainders[best] = -1;
            given++;
        }
        return counts;
    }

    private static double[] Shares(IReadOnlyList<double>? shares, int shardCount)
    {
        if (shares is null)
        {
            return Enumerable.Repeat(1.0, shardCount).ToArray();
        }
        if (shares.Count != shardCount)
        {
            throw new ArgumentException($"{shares.Count} shares were given for {shardCount} shards.", nameof(shares));
        }
        foreach (double share in shares)
        {
            if (!double.IsFinite(share) || share <= 0)
            {
                throw new ArgumentException($"Every share must be a positive number, not {share}.", nameof(shares));
            }
        }
        return [.. shares];
    }
}
