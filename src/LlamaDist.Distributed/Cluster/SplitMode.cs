namespace LlamaDist.Distributed.Cluster;

/// <summary>How <see cref="LayerPlanner"/> divides layers between nodes.</summary>
public enum SplitMode
{
    /// <summary>By measured throughput so every stage takes about the same time, within each node's memory.</summary>
    Auto,

    /// <summary>Equal layer counts; the remainder goes to the first nodes.</summary>
    Even,

    /// <summary>Proportional to free memory (every node filled to about the same fraction), as llama.cpp splits.</summary>
    Memory,

    /// <summary>The caller's own layer count per node (<see cref="PlanRequest.ExplicitLayerCounts"/>).</summary>
    Explicit,
}
