using LlamaDist.Distributed.Cluster;

namespace LlamaDist.Distributed.Tests.Cluster;

/// <summary>Builders and checks shared by the planner tests.</summary>
internal static class PlannerCases
{
    public const long Plenty = 1L << 50;

    public static PlanNode Node(string endpoint, double throughput = 1, long freeMemory = Plenty) =>
        new(endpoint, throughput, freeMemory);

    public static PlanRequest Request(int layers, SplitMode mode, long layerBytes = 100, long embedding = 0,
        long head = 0, long kv = 0, int[]? explicitCounts = null) => new()
        {
            LayerCount = layers,
            LayerWeightBytes = layerBytes,
            EmbeddingBytes = embedding,
            HeadBytes = head,
            KvBytesPerLayer = kv,
            Mode = mode,
            ExplicitLayerCounts = explicitCounts,
        };

    public static int[] Counts(LayerPlan plan) => plan.Stages.Select(stage => stage.Layers.Count).ToArray();

    /// <summary>The invariants every plan must keep, whatever the mode.</summary>
    public static void AssertValid(LayerPlan plan, IReadOnlyList<PlanNode> nodes, PlanRequest request)
    {
        Assert.Equal(nodes.Count, plan.Stages.Count);
        Assert.Equal(request.LayerCount, plan.LayerCount);
        int next = 0;
        for (int i = 0; i < nodes.Count; i++)
        {
            LayerAssignment stage = plan.Stages[i];
            Assert.Equal(i, stage.NodeIndex);
            Assert.Equal(nodes[i].Endpoint, stage.Endpoint);
            Assert.Equal(next, stage.Layers.Start);                    // contiguous, in ring order
            Assert.True(stage.Layers.Count >= 1, $"stage {i} is empty");
            long expectedWeights = stage.Layers.Count * request.LayerWeightBytes
                + (i == 0 ? request.EmbeddingBytes : 0) + (i == nodes.Count - 1 ? request.HeadBytes : 0);
            Assert.Equal(expectedWeights, stage.WeightBytes);
            Assert.Equal(stage.Layers.Count * request.KvBytesPerLayer, stage.KvBytes);
            Assert.True(stage.TotalBytes <= nodes[i].FreeMemoryBytes,
                $"stage {i} needs {stage.TotalBytes} bytes but {nodes[i].Endpoint} has {nodes[i].FreeMemoryBytes}");
            next = stage.Layers.EndExclusive;
        }
        Assert.Equal(request.LayerCount, next);                          // every layer exactly once
        Assert.True(plan.Stages[0].Layers.IncludesEmbedding);
        Assert.True(plan.Stages[^1].Layers.IncludesOutput(request.LayerCount));
    }

    /// <summary>Auto's stage time: weight bytes streamed per token over throughput (head on the last stage).</summary>
    public static double StageTime(LayerPlan plan, IReadOnlyList<PlanNode> nodes, PlanRequest request, int i) =>
        (plan.Stages[i].Layers.Count * (double)request.LayerWeightBytes
            + (i == nodes.Count - 1 ? request.HeadBytes : 0)) / nodes[i].Throughput;
}
