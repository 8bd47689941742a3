namespace LlamaDist.Distributed.Cluster;

/// <summary>
/// The result of <see cref="LayerPlanner.Plan"/>: one stage per node, in ring order, whose layer ranges are
/// contiguous and cover [0, <see cref="LayerCount"/>) exactly once.
/// </summary>
public sealed record LayerPlan(SplitMode Mode, int LayerCount, IReadOnlyList<LayerAssignment> Stages)
{
    public override string ToString() => $"{Mode}: " + string.Join(" | ", Stages);
}
