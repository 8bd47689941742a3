using LlamaDist.Core.Model;
using LlamaDist.Core.Model.Tensor;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Tensor;

/// <summary>Converts a <see cref="TensorSlice"/> to and from its wire form, checking every field against the model.</summary>
public static class ShardMapping
{
    /// <summary>The slice on every layer (-Split Tensor), or on <paramref name="range"/> only (a stage of a hybrid split).</summary>
    public static ShardSpec ToMessage(TensorSlice slice, LayerRange? range = null)
    {
        ArgumentNullException.ThrowIfNull(slice);
        return new ShardSpec
        {
            LayerStart = (uint)(range?.Start ?? 0), LayerEndExclusive = (uint)(range?.EndExclusive ?? 0),
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

    /// <summary>
    /// The blocks a message names: every layer when both bounds are 0, else [layer_start, layer_end_exclusive),
    /// which must hold at least one layer of <paramref name="config"/>; <see cref="ArgumentException"/> otherwise.
    /// </summary>
    public static LayerRange ToRange(ShardSpec spec, LlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(config);
        if (spec.LayerStart == 0 && spec.LayerEndExclusive == 0)
        {
            return LayerRange.All(config.LayerCount);
        }
        if (spec.LayerStart >= spec.LayerEndExclusive || spec.LayerEndExclusive > (uint)config.LayerCount)
        {
            throw new ArgumentException(
                $"layers [{spec.LayerStart}, {spec.LayerEndExclusive}) are empty or outside the model's {config.LayerCount} layers.");
        }
        return new LayerRange((int)spec.LayerStart, (int)spec.LayerEndExclusive);
    }

    private static void Within(uint start, uint count, uint limit, string field)
    {
        if (count == 0 || start >= limit || count > limit - start)
        {
            throw new ArgumentException($"{field} [{start}, {(ulong)start + count}) is empty or outside [0, {limit}).");
        }
    }
}
