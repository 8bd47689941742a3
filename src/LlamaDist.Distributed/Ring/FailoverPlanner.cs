using LlamaDist.Core.Model;
using LlamaDist.Distributed.Cluster;

namespace LlamaDist.Distributed.Ring;

/// <summary>One node of a ring as the failover planner sees it: its range in the original plan and whether it can still serve.</summary>
public sealed record FailoverNode(string Name, LayerRange Layers, long FreeMemoryBytes, bool Available);

/// <summary>Where a surviving node's layers lie after a failover: <see cref="Node"/> indexes the planner's input.</summary>
public sealed record FailoverAssignment(int Node, LayerRange Layers);

/// <summary>
/// Re-plans a ring without its failed nodes. Survivors keep the layers they hold (their weights and their
/// place in the ring stay); each run of consecutive failed nodes leaves a contiguous piece of the model
/// (blocks, and the output head when it was the last), which goes whole to a neighbour in the ring: the
/// survivor before it (which then ends later) or the one after it (which then starts earlier), whichever has
/// more memory free; the output head can only go to the one before. So ranges stay contiguous and in ring
/// order, one per node, and at most the neighbours of a failed node load anything new. Pure: no I/O.
/// </summary>
public static class FailoverPlanner
{
    /// <summary>
    /// The assignments of the available nodes in ring order, covering blocks [0, <paramref name="layerCount"/>)
    /// and the output head exactly once. Throws <see cref="PlanningException"/> when no node is available.
    /// </summary>
    public static IReadOnlyList<FailoverAssignment> Plan(IReadOnlyList<FailoverNode> nodes, int layerCount)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layerCount);
        if (!nodes.Any(node => node.Available))
        {
            throw new PlanningException($"No node is left to run the model's {layerCount} layers: all {nodes.Count} failed.");
        }
        var pieces = nodes.Select(node => Piece.Of(node.Layers, layerCount)).ToArray();
        CheckCoverage(pieces, layerCount);

        var survivors = new List<(int Node, Piece Piece)>();
        Piece? orphan = null;
        int? orphanAfter = null;  // index in survivors of the survivor before the orphaned piece
        for (int i = 0; i <= nodes.Count; i++)
        {
            if (i < nodes.Count && !nodes[i].Available)
            {
                orphan = orphan is { } started ? started.Join(pieces[i]) : pieces[i];
                orphanAfter ??= survivors.Count - 1;
                continue;
            }
            if (orphan is { } piece)
            {
                int before = orphanAfter!.Value;
                bool hasBefore = before >= 0;
                bool hasAfter = i < nodes.Count;
                // The head is the model's last piece: only the node before can take it.
                bool toBefore = hasBefore && (!hasAfter || piece.Head
                    || nodes[survivors[before].Node].FreeMemoryBytes >= nodes[i].FreeMemoryBytes);
                if (toBefore)
                {
                    survivors[before] = (survivors[before].Node, survivors[before].Piece.Join(piece));
                    if (i < nodes.Count)
                    {
                        survivors.Add((i, pieces[i]));
                    }
                }
                else
                {
                    survivors.Add((i, piece.Join(pieces[i])));
                }
                orphan = null;
                orphanAfter = null;
                continue;
            }
            if (i < nodes.Count)
            {
                survivors.Add((i, pieces[i]));
            }
        }
        return survivors.Select(survivor => new FailoverAssignment(survivor.Node, survivor.Piece.ToRange(layerCount))).ToArray();
    }

    private static void CheckCoverage(Piece[] pieces, int layerCount)
    {
        int next = 0;
        for (int i = 0; i < pieces.Length; i++)
        {
            if (pieces[i].Start != next || (pieces[i].Head && i != pieces.Length - 1))
            {
                throw new ArgumentException("The nodes' ranges must follow each other in ring order, the output head last.", nameof(pieces));
            }
            next = pieces[i].End;
        }
        if (next != layerCount || !pieces[^1].Head)
        {
            throw new ArgumentException($"The nodes' ranges must cover the {layerCount} blocks and the output head.", nameof(pieces));
        }
    }

    /// <summary>Blocks [Start, End) and whether the output head (output_norm and output) comes with them.</summary>
    private readonly record struct Piece(int Start, int End, bool Head)
    {
        public static Piece Of(LayerRange layers, int layerCount) => layers.IsOutputHeadOnly
            ? new Piece(layerCount, layerCount, true)
            : new Piece(layers.Start, layers.EndExclusive, layers.IncludesOutput(layerCount));

        /// <summary>This piece followed by <paramref name="after"/> (which must start where this one ends).</summary>
        public Piece Join(Piece after) => after.Start == End
            ? new Piece(Start, after.End, after.Head)
            : throw new ArgumentException($"Blocks {Start}-{End} and {after.Start}-{after.End} do not follow each other.");

        public LayerRange ToRange(int layerCount) =>
            Start == End && Head ? LayerRange.OutputHead(layerCount)
            : End == layerCount && !Head ? new LayerRange(Start, End).WithOutputElsewhere()
            : new LayerRange(Start, End);
    }
}
