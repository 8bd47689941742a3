namespace LlamaDist.PowerShell.Output;

/// <summary>One node's share of a distributed prompt: which layers it ran and what that cost.</summary>
public sealed class LlamaWorkerTiming
{
    public string Endpoint { get; init; } = "";
    /// <summary>"0-10" (first and last block), or "output head" for a node that runs only the head.</summary>
    public string Layers { get; init; } = "";
    /// <summary>First block; the head counts as the position after the last block (n_layer).</summary>
    public int FirstLayer { get; init; }
    public int LastLayer { get; init; }
    public double ComputeMs { get; init; }
    public double NetworkMs { get; init; }
    public long BytesSent { get; init; }
    public long BytesReceived { get; init; }
    /// <summary>Steps (prompt batches and decoded tokens) the node evaluated.</summary>
    public int Steps { get; init; }
}
