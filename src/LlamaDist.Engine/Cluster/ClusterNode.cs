namespace LlamaDist.Engine.Cluster;

/// <summary>One node of a cluster's plan, as loaded.</summary>
public sealed class ClusterNode
{
    /// <summary>"host:port", or "local" for the coordinator's own stage.</summary>
    public required string Endpoint { get; init; }
    public required string WorkerId { get; init; }
    public required string Name { get; init; }
    /// <summary>First layer of the node's range.</summary>
    public required int LayerStart { get; init; }
    /// <summary>One past the last layer of the node's range. A node that runs only the output head has
    /// LayerStart = n_layer and LayerEnd = n_layer + 1: the head counts as the position after the last block.</summary>
    public required int LayerEnd { get; init; }
    /// <summary>For people: "0-10" (first and last block) or "output head".</summary>
    public required string Layers { get; init; }
    public required long WeightBytes { get; init; }
    public required string Backend { get; init; }
    public required int Threads { get; init; }
    /// <summary>Bytes per second of weights the node streamed in its start-up measurement (the planner's speed).</summary>
    public required double BytesPerSecond { get; init; }
    public required long FreeMemoryBytes { get; init; }
    public required double LoadMs { get; init; }
    /// <summary>Where the node's weights came from: its model file, its cache, streamed now, or this process.</summary>
    public required string WeightSource { get; init; }
    /// <summary>Weight bytes the coordinator sent to this node while loading (0 when it had them).</summary>
    public required long BytesStreamed { get; init; }
    public required string RangeHash { get; init; }

    /// <summary>Decode time per token the planner predicted for this node's part (compute plus the network it waits on); 0 when not measured.</summary>
    public double PredictedMsPerToken { get; internal set; }

    /// <summary>
    /// Time per evaluation step (a decoded token, or one prompt batch) this node took in the cluster's most recent
    /// generation, compute plus network; 0 before the first.
    /// </summary>
    public double ObservedMsPerToken { get; internal set; }

    /// <summary>Empty statistics of this node's stage for one prompt.</summary>
    internal Generation.StageStatistics NewStatistics() => new()
    {
        Endpoint = Endpoint, WorkerId = WorkerId, LayerStart = LayerStart, LayerEnd = LayerEnd, Layers = Layers,
    };
}
