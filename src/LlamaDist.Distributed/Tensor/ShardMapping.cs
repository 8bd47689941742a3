using LlamaDist.Core.Model;
using LlamaDist.Core.Model.Tensor;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Tensor;

/// <summary>Converts a <see cref="TensorSlice"/> to and from its wire form, checking every field against the model.</summary>
public static class ShardMapping
{
    public static ShardSpec ToMessage(TensorSlice slice)
    {
        ArgumentNullException.ThrowIfNull(slice);
        return new ShardSpec
        {
            ShardIndex = (uint)slice.ShardIndex, ShardCount = (uint)slice.ShardCount,
            KvHeadStart = (uint)slice.KvHeadStart, KvHeadCount = (uint)slice.KvHeadCount,
            FeedForwardStart = (uint)slice.FeedForwardStart, FeedForwardCount = (uint)slice.FeedForwardCount,
            VocabularyStart = (uint)slice.VocabularyStart, VocabularyCount = (uint)slice.VocabularyCount,
        };
    }

    /// <summary>
    /// The slice a message describes; <see cref="ArgumentException"/> when it does not fit
    /// <paramref name="config"/> (a range outside the model's heads, units or vocabulary, or an empty one).
    /// Block alignment is checked when the weights are sliced.
    /// </summary>
    public static TensorSlice ToSlice(ShardSpec spec, LlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(config);
        Within(spec.ShardIndex, 1, spec.ShardCount, "shard_index");
        Within(spec.KvHeadStart, spec.KvHeadCount, (uint)config.KvHeadCount, "kv_head");
        Within(spec.FeedForwardStart, spec.FeedForwardCount, (uint)config.FeedForwardLength, "feed_forward");
        Within(spec.VocabularyStart, spec.VocabularyCount, (uint)config.VocabularySize, "vocabulary");
        if (spec.ShardCount > 4096)
        {
            throw new ArgumentException($"shard_count {spec.ShardCount} is not a real cluster.");
        }
        return new TensorSlice
        {
            ShardIndex = (int)spec.ShardIndex, ShardCount = (int)spec.ShardCount,
            KvHeadStart = (int)spec.KvHeadStart, KvHeadCount = (int)spec.KvHeadCount,
            HeadStart = (int)spec.KvHeadStart * config.HeadsPerKvHead, HeadCount = (int)spec.KvHeadCount * config.HeadsPerKvHead,
            FeedForwardStart = (int)spec.FeedForwardStart, FeedForwardCount = (int)spec.FeedForwardCount,
            VocabularyStart = (int)spec.VocabularyStart, VocabularyCount = (int)spec.VocabularyCount,
        };
    }

    private static void Within(uint start, uint count, uint limit, string field)
    {
        if (count == 0 || start >= limit || count > limit - start)
        {
            throw new ArgumentException($"{field} [{start}, {(ulong)start + count}) is empty or outside [0, {limit}).");
        }
    }
}
