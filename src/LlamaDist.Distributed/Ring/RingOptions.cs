using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Ring;

/// <summary>Shape of one ring session: cache size, largest step, wire encoding of hidden states, model widths.</summary>
public sealed record RingOptions
{
    public required int ContextSize { get; init; }

    public required int MaxBatchTokens { get; init; }

    public required int EmbeddingLength { get; init; }

    public required int VocabularySize { get; init; }

    /// <summary>F32 by default (exact, n_embd x 4 bytes per token per hop); F16 or Q8_0 for slow links.</summary>
    public ActivationEncoding Encoding { get; init; } = ActivationEncoding.F32;

    /// <summary>
    /// Tokens per micro-batch of a prompt sent through the ring pipelined (every stage working at once); 0 lets
    /// <see cref="Costs"/> choose (see <see cref="PrefillPlanner"/>), or sends each step whole without it.
    /// </summary>
    public int MicroBatchTokens { get; init; }

    /// <summary>The ring's learnt costs, shared by the sessions of one cluster; null: steps go whole.</summary>
    public RingCostModel? Costs { get; init; }

    /// <summary>
    /// A stage that gives no sign of life for this long is declared failed (see <see cref="StageWatchdog"/>),
    /// even mid-step; null watches nothing (a broken stream is still noticed).
    /// </summary>
    public TimeSpan? StageTimeout { get; init; }
}
