using LlamaDist.Core.Model;
using LlamaDist.Distributed.Cluster;
using LlamaDist.Distributed.Ring;

namespace LlamaDist.Distributed.Tests.Failover;

/// <summary>Re-planning a ring without its failed nodes: survivors keep their layers, a neighbour takes the orphaned piece.</summary>
public sealed class FailoverPlannerTests
{
    private static FailoverNode Node(string name, LayerRange layers, bool available = true, long free = 1 << 30) => new(name, layers, free, available);

    private static (string, int, int, bool)[] Describe(IReadOnlyList<FailoverNode> nodes, IReadOnlyList<FailoverAssignment> plan, int layerCount) =>
        plan.Select(a => (nodes[a.Node].Name, a.Layers.Start, a.Layers.EndExclusive, a.Layers.IsOutputHeadOnly || a.Layers.IncludesOutput(layerCount))).ToArray();

    [Fact]
    public void FailedMiddleStage_GoesToTheNeighbourWithMoreFreeMemory()
    {
        FailoverNode[] nodes = [Node("a", new(0, 4), free: 100), Node("b", new(4, 8), available: false), Node("c", new(8, 12), free: 200)];
        var plan = FailoverPlanner.Plan(nodes, 12);
        Assert.Equal([("a", 0, 4, false), ("c", 4, 12, true)], Describe(nodes, plan, 12));

        nodes[0] = Node("a", new(0, 4), free: 300);
        Assert.Equal([("a", 0, 8, false), ("c", 8, 12, true)], Describe(nodes, FailoverPlanner.Plan(nodes, 12), 12));
    }

    [Fact]
    public void FailedFirstStage_GoesToTheNextNodeWhichThenStartsTheModel()
    {
        FailoverNode[] nodes = [Node("a", new(0, 4), available: false), Node("b", new(4, 8)), Node("c", new(8, 12))];
        var plan = FailoverPlanner.Plan(nodes, 12);
        Assert.Equal([("b", 0, 8, false), ("c", 8, 12, true)], Describe(nodes, plan, 12));
        Assert.True(plan[0].Layers.IncludesEmbedding);
    }

    [Fact]
    public void FailedLastStage_TheOutputHeadGoesToTheNodeBefore()
    {
        FailoverNode[] nodes = [Node("a", new(0, 4)), Node("b", new(4, 8)), Node("c", new(8, 12), available: false)];
        var plan = FailoverPlanner.Plan(nodes, 12);
        Assert.Equal([("a", 0, 4, false), ("b", 4, 12, true)], Describe(nodes, plan, 12));
        Assert.True(plan[1].Layers.IncludesOutput(12));
    }

    [Fact]
    public void AHeadOnlyStage_IsAbsorbedByTheStageBefore_WhichStopsLeavingTheHeadElsewhere()
    {
        FailoverNode[] nodes = [Node("a", new LayerRange(0, 1).WithOutputElsewhere()), Node("head", LayerRange.OutputHead(1), available: false)];
        var plan = FailoverPlanner.Plan(nodes, 1);
        Assert.Single(plan);
        Assert.True(plan[0].Layers.IsWholeModel(1));
    }

    [Fact]
    public void TheStageBeforeAHeadOnlyStage_GoesToItsNeighbours_AndTheHeadStaysWhereItIs()
    {
        FailoverNode[] nodes = [Node("a", new(0, 2), free: 1), Node("b", new LayerRange(2, 4).WithOutputElsewhere(), available: false), Node("head", LayerRange.OutputHead(4), free: 9)];
        var plan = FailoverPlanner.Plan(nodes, 4);
        // "head" has more memory free: it takes blocks 2-3 and keeps the head.
        Assert.Equal([("a", 0, 2, false), ("head", 2, 4, true)], Describe(nodes, plan, 4));
        Assert.False(plan[1].Layers.OutputElsewhere);
    }

    [Fact]
    public void ConsecutiveFailures_LeaveOnePieceForOneNeighbour()
    {
        FailoverNode[] nodes = [Node("a", new(0, 3)), Node("b", new(3, 6), available: false), Node("c", new(6, 9), available: false), Node("d", new(9, 12))];
        Assert.Equal([("a", 0, 9, false), ("d", 9, 12, true)], Describe(nodes, FailoverPlanner.Plan(nodes, 12), 12));
    }

    [Fact]
    public void TheLastSurvivor_TakesTheWholeModel()
    {
        FailoverNode[] nodes = [Node("local", new(0, 1)), Node("b", new(1, 3), available: false), Node("c", new(3, 4), available: false)];
        var plan = FailoverPlanner.Plan(nodes, 4);
        Assert.Single(plan);
        Assert.Equal(0, plan[0].Node);
        Assert.True(plan[0].Layers.IsWholeModel(4));
    }

    [Fact]
    public void NoSurvivor_IsAPlanningError()
    {
        FailoverNode[] nodes = [Node("a", new(0, 2), available: false), Node("b", new(2, 4), available: false)];
        var error = Assert.Throws<PlanningException>(() => FailoverPlanner.Plan(nodes, 4));
        Assert.Contains("all 2 failed", error.Message);
    }

    [Fact]
    public void EveryAvailableSubset_CoversEachLayerAndTheHeadExactlyOnce_InRingOrder()
    {
        // 4 nodes over 10 layers and the head: every combination of failures that leaves someone.
        LayerRange[] ranges = [new(0, 2), new(2, 5), new(5, 9), new(9, 10)];
        for (int mask = 1; mask < 16; mask++)
        {
            var nodes = ranges.Select((range, i) => Node($"n{i}", range, available: (mask & (1 << i)) != 0, free: i * 7 % 5)).ToArray();
            var plan = FailoverPlanner.Plan(nodes, 10);
            Assert.All(plan, assignment => Assert.True(nodes[assignment.Node].Available));
            Assert.Equal(plan.Select(a => a.Node).Order(), plan.Select(a => a.Node));
            int next = 0;
            foreach (var assignment in plan)
            {
                Assert.Equal(next, assignment.Layers.Start);
                next = assignment.Layers.EndExclusive;
            }
            Assert.Equal(10, next);
            Assert.True(plan[^1].Layers.IncludesOutput(10));
            Assert.All(plan.SkipLast(1), assignment => Assert.False(assignment.Layers.IncludesOutput(10)));
            // Survivors keep what they held.
            Assert.All(plan, assignment => Assert.True(assignment.Layers.Start <= ranges[assignment.Node].Start && assignment.Layers.EndExclusive >= ranges[assignment.Node].EndExclusive));
        }
    }
}
