namespace LlamaDist.Engine.Generation;

/// <summary>
/// One failover during a prompt: which node failed and what it ran, when, what was observed, how the ring was
/// re-planned, and what rebuilding the lost KV caches (replaying the session's tokens) cost.
/// </summary>
public sealed class FailoverRecord
{
    /// <summary>"host:port" of the node that failed (or of the stage whose stream broke, when no node was found dead).</summary>
    public required string Endpoint { get; init; }

    /// <summary>The layers it ran ("0-10", "output head"); empty when the ring was only rebuilt on the same nodes.</summary>
    public required string Layers { get; init; }

    /// <summary>When the failure was detected.</summary>
    public required DateTime DetectedUtc { get; init; }

    /// <summary>From the start of the step that failed to its detection.</summary>
    public required double DetectionMs { get; init; }

    /// <summary>Tokens the session had evaluated (prompt and generated) when the step failed.</summary>
    public required int Position { get; init; }

    /// <summary>What was observed, in plain words.</summary>
    public required string Reason { get; init; }

    /// <summary>The ring after the failover: "endpoint layers" per node in ring order.</summary>
    public required string NewPlan { get; init; }

    /// <summary>Time to plan, load grown ranges and open the new ring.</summary>
    public required double ReplanMs { get; init; }

    /// <summary>Time to replay the session's tokens through the new ring (rebuilding every layer's KV cache).</summary>
    public required double ReplayMs { get; init; }

    /// <summary>Tokens replayed.</summary>
    public required int ReplayedTokens { get; init; }
}
