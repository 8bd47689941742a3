namespace LlamaDist.PowerShell.Output;

/// <summary>One node of a cluster's plan: where it is, which layers it runs, and how they got there.</summary>
public sealed class LlamaClusterNode
{
    /// <summary>"host:port", or "local" for this process.</summary>
    public string Endpoint { get; init; } = "";
    public string Name { get; init; } = "";
    /// <summary>"0-10": first and last block, inclusive; "output head" for a node that runs only the head.</summary>
    public string Layers { get; init; } = "";
    public int FirstLayer { get; init; }
    public int LastLayer { get; init; }
    public long WeightBytes { get; init; }
    public string Weights { get; init; } = "";
    public string Backend { get; init; } = "";
    public int Threads { get; init; }
    public double LoadMs { get; init; }
    /// <summary>Where the weights came from: the worker's model file, its cache, streamed now, or this process.</summary>
    public string WeightSource { get; init; } = "";
    /// <summary>Weight bytes sent to the node while loading (0 when it had them).</summary>
    public long BytesStreamed { get; init; }

    /// <summary>Decode ms per token the planner predicted for this node's part (compute plus network); 0 when not measured.</summary>
    public double PredictedMsPerToken { get; init; }

    /// <summary>Ms per evaluation step (a decoded token or a prompt batch) this node took in the cluster's latest generation; 0 before it.</summary>
    public double ObservedMsPerToken => Math.Round(ObservedSource?.Invoke() ?? 0, 3);

    /// <summary>Reads the live figure from the engine's node.</summary>
    [System.Management.Automation.Hidden]
    internal Func<double>? ObservedSource { get; init; }

    /// <summary>Healthy, or Down (its layers run elsewhere until it answers again); Get-LlamaCluster asks each node anew.</summary>
    public string Health { get; set; } = "Healthy";
    /// <summary>What was observed when the node was last found down (connection refused, deadline exceeded…); null when healthy.</summary>
    public string? LastFailure { get; set; }
}
