using LlamaDist.Distributed.Cluster;
using static LlamaDist.Distributed.Tests.Cluster.PlannerCases;

namespace LlamaDist.Distributed.Tests.Cluster;

public sealed class LayerPlannerFailureTests
{
    [Theory]
    [InlineData(SplitMode.Auto)]
    [InlineData(SplitMode.Memory)]
    [InlineData(SplitMode.Even)]
    public void TotalMemoryTooSmall_SaysWhatIsNeededAndWhatThereIs(SplitMode mode)
    {
        // Each node holds 2 layers of 100 bytes: 6 of the 10 layers fit.
        PlanNode[] nodes = [Node("a", freeMemory: 250), Node("b", freeMemory: 250), Node("c", freeMemory: 250)];
        var error = Assert.Throws<PlanningException>(() => LayerPlanner.Plan(nodes, Request(10, mode)));
        Assert.Contains("too small", error.Message);
        Assert.Contains("needs 1000 bytes", error.Message);
        Assert.Contains("750 bytes", error.Message);
        Assert.Contains("only 6 of 10 layers", error.Message);
        Assert.Null(error.Endpoint);
    }

    [Fact]
    public void NodeThatCannotHoldOneLayer_IsNamedWithItsBytes()
    {
        PlanNode[] nodes = [Node("a"), Node("tiny:5000", freeMemory: 119), Node("c")];
        var error = Assert.Throws<PlanningException>(
            () => LayerPlanner.Plan(nodes, Request(10, SplitMode.Auto, layerBytes: 100, kv: 20)));
        Assert.Equal("tiny:5000", error.Endpoint);
        Assert.Contains("tiny:5000 cannot hold even one layer", error.Message);
        Assert.Contains("needs 120 bytes", error.Message);
        Assert.Contains("has 119 bytes", error.Message);
    }

    [Fact]
    public void FirstNode_MustAlsoHoldTheEmbedding()
    {
        // Without the 1000-byte embedding 1099 bytes would hold 10 layers; with it, not even one (1100 needed).
        PlanNode[] nodes = [Node("first", freeMemory: 1099), Node("last")];
        var error = Assert.Throws<PlanningException>(
            () => LayerPlanner.Plan(nodes, Request(4, SplitMode.Memory, embedding: 1000)));
        Assert.Equal("first", error.Endpoint);
        Assert.Contains("needs 1100 bytes", error.Message);
        Assert.Contains("embedding 1000 bytes", error.Message);
    }

    [Fact]
    public void LastNode_MustAlsoHoldTheHead()
    {
        PlanNode[] nodes = [Node("first"), Node("last", freeMemory: 150)];
        var error = Assert.Throws<PlanningException>(
            () => LayerPlanner.Plan(nodes, Request(4, SplitMode.Auto, head: 100)));
        Assert.Equal("last", error.Endpoint);
        Assert.Contains("needs 200 bytes", error.Message);
        Assert.Contains("head 100 bytes", error.Message);
    }

    [Fact]
    public void Even_ThatOverfillsANode_NamesItWhileAutoFits()
    {
        PlanNode[] nodes = [Node("small", freeMemory: 300), Node("big")];
        var error = Assert.Throws<PlanningException>(() => LayerPlanner.Plan(nodes, Request(8, SplitMode.Even)));
        Assert.Equal("small", error.Endpoint);
        Assert.Contains("[0, 4)", error.Message);
        Assert.Contains("needs 400 bytes", error.Message);
        Assert.Contains("room for 3 layers", error.Message);

        Assert.Equal(new[] { 3, 5 }, Counts(LayerPlanner.Plan(nodes, Request(8, SplitMode.Auto))));
    }

    [Fact]
    public void Explicit_ThatDoesNotFit_NamesTheNode()
    {
        PlanNode[] nodes = [Node("a"), Node("b", freeMemory: 450)];
        var error = Assert.Throws<PlanningException>(
            () => LayerPlanner.Plan(nodes, Request(10, SplitMode.Explicit, explicitCounts: [5, 5])));
        Assert.Equal("b", error.Endpoint);
        Assert.Contains("[5, 10)", error.Message);
        Assert.Contains("needs 500 bytes", error.Message);
        Assert.Contains("has 450 bytes", error.Message);
    }

    [Fact]
    public void Explicit_CountsThatDoNotSum_AreRefused()
    {
        PlanNode[] nodes = [Node("a"), Node("b")];
        var error = Assert.Throws<PlanningException>(
            () => LayerPlanner.Plan(nodes, Request(10, SplitMode.Explicit, explicitCounts: [4, 5])));
        Assert.Contains("sum to 9", error.Message);
        Assert.Contains("10 layers", error.Message);
    }

    [Fact]
    public void Explicit_CountsForTheWrongNumberOfNodes_AreRefused()
    {
        PlanNode[] nodes = [Node("a"), Node("b")];
        var error = Assert.Throws<PlanningException>(
            () => LayerPlanner.Plan(nodes, Request(10, SplitMode.Explicit, explicitCounts: [3, 3, 4])));
        Assert.Contains("3 layer counts for 2 nodes", error.Message);
    }

    [Fact]
    public void Explicit_ZeroLayersForANode_IsRefused()
    {
        PlanNode[] nodes = [Node("a"), Node("b")];
        var error = Assert.Throws<PlanningException>(
            () => LayerPlanner.Plan(nodes, Request(10, SplitMode.Explicit, explicitCounts: [10, 0])));
        Assert.Equal("b", error.Endpoint);
    }

    [Fact]
    public void Explicit_WithoutCounts_IsRefused()
    {
        var error = Assert.Throws<PlanningException>(
            () => LayerPlanner.Plan([Node("a")], Request(10, SplitMode.Explicit)));
        Assert.Contains("ExplicitLayerCounts", error.Message);
    }

    [Fact]
    public void MoreNodesThanLayers_IsRefused()
    {
        var error = Assert.Throws<PlanningException>(
            () => LayerPlanner.Plan([Node("a"), Node("b"), Node("c")], Request(2, SplitMode.Even)));
        Assert.Contains("3 nodes cannot share 2 layers", error.Message);
    }

    [Fact]
    public void NoNodes_IsRefused()
    {
        Assert.Throws<PlanningException>(() => LayerPlanner.Plan([], Request(2, SplitMode.Auto)));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Auto_WithoutAUsableThroughput_NamesTheNode(double throughput)
    {
        PlanNode[] nodes = [Node("a"), Node("b", throughput: throughput)];
        var error = Assert.Throws<PlanningException>(() => LayerPlanner.Plan(nodes, Request(4, SplitMode.Auto)));
        Assert.Equal("b", error.Endpoint);
        Assert.Contains("throughput", error.Message);
    }

    [Fact]
    public void DuplicateEndpoint_IsRefused()
    {
        var error = Assert.Throws<PlanningException>(
            () => LayerPlanner.Plan([Node("a"), Node("A")], Request(4, SplitMode.Even)));
        Assert.Contains("listed twice", error.Message);
    }

    [Fact]
    public void NegativeFreeMemory_IsRefused()
    {
        var error = Assert.Throws<PlanningException>(
            () => LayerPlanner.Plan([Node("a", freeMemory: -1)], Request(4, SplitMode.Even)));
        Assert.Equal("a", error.Endpoint);
    }

    [Fact]
    public void MalformedRequest_IsAnArgumentError()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LayerPlanner.Plan([Node("a")], Request(0, SplitMode.Even)));
        Assert.Throws<ArgumentOutOfRangeException>(
            () => LayerPlanner.Plan([Node("a")], Request(4, SplitMode.Even, layerBytes: 0)));
        Assert.Throws<ArgumentOutOfRangeException>(
            () => LayerPlanner.Plan([Node("a")], Request(4, SplitMode.Even, kv: -1)));
    }
}
