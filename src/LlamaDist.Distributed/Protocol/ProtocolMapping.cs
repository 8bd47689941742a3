using LlamaDist.Core.Model;

namespace LlamaDist.Distributed.Protocol;

/// <summary>Conversions between the wire messages and the engine's own model types.</summary>
public static class ProtocolMapping
{
    public static ModelConfig ToMessage(LlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new ModelConfig
        {
            Architecture = config.Architecture,
            EmbeddingLength = (uint)config.EmbeddingLength,
            LayerCount = (uint)config.LayerCount,
            FeedForwardLength = (uint)config.FeedForwardLength,
            HeadCount = (uint)config.HeadCount,
            KvHeadCount = (uint)config.KvHeadCount,
            HeadDimension = (uint)config.HeadDimension,
            RmsEpsilon = config.RmsEpsilon,
            RopeFreqBase = config.RopeFreqBase,
            RopeDimensionCount = (uint)config.RopeDimensionCount,
            ContextLength = (uint)config.ContextLength,
            VocabularySize = (uint)config.VocabularySize,
            SlidingWindow = (uint)config.SlidingWindow,
            AttentionLogitSoftcap = config.AttentionSoftCap,
            FinalLogitSoftcap = config.FinalSoftCap,
            RopeOriginalContext = (uint)config.RopeOriginalContext,
            RopeAttentionFactor = config.RopeAttentionFactor,
        };
    }

    /// <summary>The configuration a message describes; the LlamaConfig constructor checks it is consistent.</summary>
    public static LlamaConfig ToConfig(ModelConfig message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!ModelArchitecture.Supported.ContainsKey(message.Architecture))
        {
            throw new ArgumentException(
                $"Architecture '{(message.Architecture.Length > 40 ? message.Architecture[..40] + "…" : message.Architecture)}' is not supported; these are: {string.Join(", ", ModelArchitecture.Supported.Keys)}.",
                nameof(message));
        }
        return new LlamaConfig(checked((int)message.EmbeddingLength), checked((int)message.LayerCount),
            checked((int)message.FeedForwardLength), checked((int)message.HeadCount), checked((int)message.KvHeadCount),
            message.RmsEpsilon, checked((int)message.ContextLength), checked((int)message.VocabularySize),
            headDimension: checked((int)message.HeadDimension), ropeFreqBase: message.RopeFreqBase,
            ropeDimensionCount: checked((int)message.RopeDimensionCount), architecture: message.Architecture,
            slidingWindow: checked((int)message.SlidingWindow), attentionSoftCap: message.AttentionLogitSoftcap,
            finalSoftCap: message.FinalLogitSoftcap, ropeOriginalContext: checked((int)message.RopeOriginalContext),
            ropeAttentionFactor: message.RopeAttentionFactor == 0f ? 1f : message.RopeAttentionFactor);
    }

    public static LayerSpan ToMessage(LayerRange range, int layerCount) => new()
    {
        Start = (uint)range.Start,
        EndExclusive = (uint)range.EndExclusive,
        ModelLayerCount = (uint)layerCount,
        OutputElsewhere = range.OutputElsewhere,
    };

    /// <summary>The range a span names, checked against the model it belongs to.</summary>
    public static LayerRange ToRange(LayerSpan span, int layerCount)
    {
        ArgumentNullException.ThrowIfNull(span);
        if (span.ModelLayerCount != layerCount)
        {
            throw new ArgumentException($"The layer span is for a {span.ModelLayerCount}-layer model but the model has {layerCount} layers.", nameof(span));
        }
        if (span.Start == span.EndExclusive && span.Start == layerCount && !span.OutputElsewhere)
        {
            return LayerRange.OutputHead(layerCount);
        }
        var range = new LayerRange(checked((int)span.Start), checked((int)span.EndExclusive));
        if (span.OutputElsewhere)
        {
            range = range.WithOutputElsewhere();
        }
        range.EnsureWithin(layerCount, nameof(span));
        return range;
    }
}
