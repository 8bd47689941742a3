namespace LlamaDist.Distributed.Cluster;

/// <summary>How <see cref="LayerPlanner"/> divides layers between nodes.</summary>
public enum SplitMode
{
    /// <summary>
    /// By measured throughput, for the fastest token through the ring within each node's memory: layers go to the
    /// fastest nodes first, then the split is evened out as far as that costs at most 5% (see <see cref="LayerPlanner"/>).
    /// </summary>
    Auto,

    /// <summary>Equal layer counts; the remainder goes to the first nodes.</summary>
    Even,

    /// <summary>Proportional to free memory (every node filled to about the same fraction), as llama.cpp splits.</summary>
    Memory,

    /// <summary>The caller's own layer count per node (<see cref="PlanRequest.ExplicitLayerCounts"/>).</summary>
    Explicit,
}
