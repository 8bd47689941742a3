namespace LlamaDist.Engine.Generation;

/// <summary>Why generation ended.</summary>
public enum StopReason
{
    Unspecified = 0,
    /// <summary>The model produced an end-of-generation token (not included in the output).</summary>
    EndOfSequence,
    /// <summary>MaxTokens tokens were generated.</summary>
    MaxTokens,
    /// <summary>The KV cache is full.</summary>
    ContextFull,
    /// <summary>The text reached one of the request's stop strings (not included in the output).</summary>
    StopString,
    /// <summary>A node of the cluster failed and the prompt could not go on (a partial result, on the error).</summary>
    NodeFailed,
}
