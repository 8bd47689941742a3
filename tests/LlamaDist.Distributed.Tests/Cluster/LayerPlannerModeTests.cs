using LlamaDist.Core.Model;
using LlamaDist.Distributed.Cluster;
using static LlamaDist.Distributed.Tests.Cluster.PlannerCases;

namespace LlamaDist.Distributed.Tests.Cluster;

public sealed class LayerPlannerModeTests
{
    [Fact]
    public void Even_GivesRemainderToFirstNodes()
    {
        PlanNode[] nodes = [Node("a"), Node("b"), Node("c")];
        PlanRequest request = Request(10, SplitMode.Even, layerBytes: 100, embedding: 1000, head: 2000, kv: 10);
        LayerPlan plan = LayerPlanner.Plan(nodes, request);

        Assert.Equal(new[] { new LayerRange(0, 4), new LayerRange(4, 7), new LayerRange(7, 10) },
            plan.Stages.Select(stage => stage.Layers));
        Assert.Equal(new long[] { 4 * 100 + 1000, 3 * 100, 3 * 100 + 2000 }, plan.Stages.Select(s => s.WeightBytes));
        Assert.Equal(new long[] { 40, 30, 30 }, plan.Stages.Select(s => s.KvBytes));
        Assert.Equal(SplitMode.Even, plan.Mode);
        AssertValid(plan, nodes, request);
    }

    [Fact]
    public void Even_IgnoresThroughput()
    {
        PlanNode[] nodes = [Node("a", throughput: 100), Node("b", throughput: 0)];
        Assert.Equal(new[] { 3, 3 }, Counts(LayerPlanner.Plan(nodes, Request(6, SplitMode.Even))));
    }

    [Fact]
    public void SingleNode_HoldsWholeModelWithEmbeddingAndHead()
    {
        PlanNode[] nodes = [Node("solo", freeMemory: 22 * 100 + 300 + 500 + 22 * 7)];
        foreach (SplitMode mode in Enum.GetValues<SplitMode>())
        {
            PlanRequest request = Request(22, mode, embedding: 300, head: 500, kv: 7, explicitCounts: [22]);
            LayerPlan plan = LayerPlanner.Plan(nodes, request);
            LayerAssignment stage = Assert.Single(plan.Stages);
            Assert.True(stage.Layers.IsWholeModel(22));
            Assert.Equal(22 * 100 + 300 + 500, stage.WeightBytes);
            Assert.Equal(nodes[0].FreeMemoryBytes, stage.TotalBytes); // exactly full still fits
        }
    }

    [Fact]
    public void Memory_IsProportionalToFreeMemory()
    {
        PlanNode[] nodes = [Node("a", freeMemory: 1000), Node("b", freeMemory: 2000), Node("c", freeMemory: 1000)];
        PlanRequest request = Request(12, SplitMode.Memory, layerBytes: 10);
        Assert.Equal(new[] { 3, 6, 3 }, Counts(LayerPlanner.Plan(nodes, request)));
    }

    [Fact]
    public void Memory_CountsTheHeadAgainstTheLastNode()
    {
        // Equal memory; the head takes the room of two layers on b, so a fills to the same fraction with 6 vs 4.
        PlanNode[] nodes = [Node("a", freeMemory: 600), Node("b", freeMemory: 600)];
        PlanRequest request = Request(10, SplitMode.Memory, layerBytes: 40, kv: 10, head: 100);
        LayerPlan plan = LayerPlanner.Plan(nodes, request);
        Assert.Equal(new[] { 6, 4 }, Counts(plan));
        Assert.Equal(300, plan.Stages[0].TotalBytes);
        Assert.Equal(300, plan.Stages[1].TotalBytes);
    }

    [Fact]
    public void Auto_ATwiceAsFastNodeTakesTheLayersATokenPassesFastest()
    {
        // A token passes the stages in turn: 29/1 is the fastest ring (14.5 + 1 s); 28/2 costs 16 s, within 5%,
        // and its slowest stage is faster; 27/3 (16.5 s) is outside the band.
        PlanNode[] nodes = [Node("fast", throughput: 2e9), Node("slow", throughput: 1e9)];
        PlanRequest request = Request(30, SplitMode.Auto, layerBytes: 1_000_000_000);
        LayerPlan plan = LayerPlanner.Plan(nodes, request);
        Assert.Equal(new[] { 28, 2 }, Counts(plan));
    }

    [Theory]
    [InlineData(7, 3)]
    [InlineData(22, 2)]
    [InlineData(32, 4)]
    public void Auto_EqualNodesShareEvenly(int layers, int nodeCount)
    {
        PlanNode[] nodes = Enumerable.Range(0, nodeCount).Select(i => Node($"n{i}")).ToArray();
        PlanRequest request = Request(layers, SplitMode.Auto, layerBytes: 1000);
        LayerPlan plan = LayerPlanner.Plan(nodes, request);
        AssertValid(plan, nodes, request);
        int[] counts = Counts(plan);
        Assert.True(counts.Max() - counts.Min() <= 1, $"counts {string.Join(",", counts)} differ by more than one layer");
    }

    [Theory]
    [InlineData(32, new[] { 3.0, 2.0, 1.0 })]
    [InlineData(22, new[] { 1.0, 2.0 })]
    [InlineData(80, new[] { 5.5, 1.2, 3.3, 0.7 })]
    public void Auto_ARingWithinTheBandOfTheFastest_FasterNodesNeverTakeFewerLayers(int layers, double[] throughputs)
    {
        PlanNode[] nodes = throughputs.Select((speed, i) => Node($"n{i}", throughput: speed)).ToArray();
        PlanRequest request = Request(layers, SplitMode.Auto, layerBytes: 1000);
        LayerPlan plan = LayerPlanner.Plan(nodes, request);
        AssertValid(plan, nodes, request);
        double sum = Enumerable.Range(0, nodes.Length).Sum(i => StageTime(plan, nodes, request, i));
        // The fastest ring: one layer each, the rest on the fastest node.
        double fastest = throughputs.Max();
        double best = (layers - nodes.Length) * 1000 / fastest + throughputs.Sum(speed => 1000 / speed);
        Assert.InRange(sum, best, best * (1 + LayerPlanner.LatencyBand) + 1e-9);
        for (int i = 0; i < nodes.Length; i++)
        {
            for (int j = 0; j < nodes.Length; j++)
            {
                if (throughputs[i] > throughputs[j])
                {
                    Assert.True(plan.Stages[i].Layers.Count >= plan.Stages[j].Layers.Count,
                        $"node {i} (speed {throughputs[i]}) has fewer layers than node {j} (speed {throughputs[j]})");
                }
            }
        }
    }

    [Fact]
    public void Auto_ChargesTheOutputHeadToTheLastStage()
    {
        // Equal speeds; the head streams as many bytes as two layers, so the last stage takes two layers fewer.
        PlanNode[] nodes = [Node("a"), Node("b")];
        PlanRequest request = Request(10, SplitMode.Auto, layerBytes: 100, head: 200);
        LayerPlan plan = LayerPlanner.Plan(nodes, request);
        Assert.Equal(new[] { 6, 4 }, Counts(plan));
        Assert.Equal(StageTime(plan, nodes, request, 0), StageTime(plan, nodes, request, 1));
    }

    [Fact]
    public void Auto_MemoryCapMovesLayersOffAFastNode()
    {
        // "fast" is ten times faster but holds only 3 layers (3 × (100 + 20) = 360 ≤ 400 < 480).
        PlanNode[] nodes = [Node("fast", throughput: 10, freeMemory: 400), Node("slow1", throughput: 1),
            Node("slow2", throughput: 2)];
        PlanRequest request = Request(12, SplitMode.Auto, layerBytes: 100, kv: 20);
        LayerPlan plan = LayerPlanner.Plan(nodes, request);
        AssertValid(plan, nodes, request);
        Assert.Equal(new[] { 3, 1, 8 }, Counts(plan)); // the other layers to the faster of the two others
        Assert.Equal(360, plan.Stages[0].TotalBytes);
    }

    [Fact]
    public void Auto_KeepsRingOrderWhenTheFastNodeIsLast()
    {
        PlanNode[] nodes = [Node("slow", throughput: 1), Node("fast", throughput: 3)];
        LayerPlan plan = LayerPlanner.Plan(nodes, Request(16, SplitMode.Auto));
        Assert.Equal(new[] { "slow", "fast" }, plan.Stages.Select(stage => stage.Endpoint));
        // 1/15 takes 1 + 5 layer-times of the slow node; 2/14 (6.67) is outside the 5% band.
        Assert.Equal(new[] { new LayerRange(0, 1), new LayerRange(1, 16) }, plan.Stages.Select(s => s.Layers));
    }

    [Fact]
    public void Explicit_UsesTheGivenCounts()
    {
        PlanNode[] nodes = [Node("a"), Node("b"), Node("c")];
        PlanRequest request = Request(10, SplitMode.Explicit, explicitCounts: [2, 5, 3]);
        LayerPlan plan = LayerPlanner.Plan(nodes, request);
        Assert.Equal(new[] { new LayerRange(0, 2), new LayerRange(2, 7), new LayerRange(7, 10) },
            plan.Stages.Select(stage => stage.Layers));
        AssertValid(plan, nodes, request);
    }

    [Fact]
    public void Plan_IsDeterministic()
    {
        PlanNode[] nodes = [Node("a", 1.7, 9000), Node("b", 0.9, 5000), Node("c", 2.4, 7000)];
        foreach (SplitMode mode in new[] { SplitMode.Auto, SplitMode.Memory, SplitMode.Even })
        {
            PlanRequest request = Request(40, mode, layerBytes: 300, embedding: 500, head: 700, kv: 60);
            Assert.Equal(LayerPlanner.Plan(nodes, request).Stages, LayerPlanner.Plan(nodes, request).Stages);
        }
    }
}
