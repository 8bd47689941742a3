namespace LlamaDist.PowerShell.Output;

/// <summary>One failover during a prompt: the node lost, its layers, when and why, the new ring, and what replaying cost.</summary>
public sealed class LlamaFailover
{
    public string Endpoint { get; init; } = "";
    /// <summary>The layers the lost node ran ("0-10", "output head").</summary>
    public string Layers { get; init; } = "";
    public DateTime Detected { get; init; }
    /// <summary>From the start of the step that failed to the failure's detection.</summary>
    public double DetectionMs { get; init; }
    /// <summary>Tokens (prompt and generated) the session had evaluated when it failed.</summary>
    public int Position { get; init; }
    /// <summary>What was observed, in plain words.</summary>
    public string Reason { get; init; } = "";
    /// <summary>The ring afterwards: "endpoint layers" per node.</summary>
    public string NewPlan { get; init; } = "";
    public double ReplanMs { get; init; }
    /// <summary>Replaying the session's tokens through the new ring (rebuilding the KV caches).</summary>
    public double ReplayMs { get; init; }
    public int ReplayedTokens { get; init; }
}
