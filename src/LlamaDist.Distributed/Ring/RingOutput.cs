namespace LlamaDist.Distributed.Ring;

/// <summary>What the last stage sends back for a step.</summary>
public enum RingOutput
{
    /// <summary>The argmax token of the last position: 4 bytes, enough for greedy decoding.</summary>
    GreedyToken,

    /// <summary>The logits of the last position (vocabulary x 4 bytes), for sampling on the coordinator.</summary>
    LastLogits,
}
