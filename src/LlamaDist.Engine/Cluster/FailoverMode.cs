namespace LlamaDist.Engine.Cluster;

/// <summary>What a cluster does when a node fails mid-prompt.</summary>
public enum FailoverMode
{
    /// <summary>Re-plan the node's layers onto the remaining nodes (or this process with -IncludeLocal), replay, continue.</summary>
    Reassign,

    /// <summary>Fail the prompt, naming the node, with the partial result.</summary>
    None,
}
