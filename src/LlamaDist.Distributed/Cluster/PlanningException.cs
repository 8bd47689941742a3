namespace LlamaDist.Distributed.Cluster;

/// <summary>
/// The model cannot be placed on the given nodes the way it was asked: not enough memory in all, a node that
/// cannot hold even one layer, explicit counts that do not add up. The message names the node and the bytes.
/// </summary>
public sealed class PlanningException : Exception
{
    public PlanningException(string message) : base(message)
    {
    }

    /// <summary>Endpoint of the node the problem is about, when it is about one node.</summary>
    public string? Endpoint { get; init; }
}
