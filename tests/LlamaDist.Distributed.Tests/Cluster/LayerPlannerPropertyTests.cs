using LlamaDist.Distributed.Cluster;
using static LlamaDist.Distributed.Tests.Cluster.PlannerCases;

namespace LlamaDist.Distributed.Tests.Cluster;

/// <summary>Invariants over many seeded random clusters.</summary>
public sealed class LayerPlannerPropertyTests
{
    [Fact]
    public void RandomClusters_PlansCoverEveryLayerOnceInOrderWithinMemory()
    {
        int planned = 0, refused = 0;
        for (int seed = 0; seed < 400; seed++)
        {
            var random = new Random(seed);
            (PlanNode[] nodes, PlanRequest baseRequest) = RandomCase(random);
            bool feasible = IsFeasible(nodes, baseRequest);
            foreach (SplitMode mode in Enum.GetValues<SplitMode>())
            {
                PlanRequest request = baseRequest with
                {
                    Mode = mode,
                    ExplicitLayerCounts = mode == SplitMode.Explicit
                        ? RandomComposition(random, baseRequest.LayerCount, nodes.Length)
                        : null,
                };
                try
                {
                    LayerPlan plan = LayerPlanner.Plan(nodes, request);
                    AssertValid(plan, nodes, request);
                    Assert.Equal(plan.Stages, LayerPlanner.Plan(nodes, request).Stages);
                    planned++;
                }
                catch (PlanningException) when (mode is SplitMode.Even or SplitMode.Explicit || !feasible)
                {
                    // Even and Explicit fix the counts, so they may not fit where Auto and Memory do.
                    refused++;
                }
            }
        }
        // The generator must exercise both outcomes, and mostly produce plans.
        Assert.True(planned > 800, $"only {planned} plans ({refused} refused)");
        Assert.True(refused > 50, $"only {refused} refusals");
    }

    [Fact]
    public void RandomClusters_AutoIsWithinTheBandOfTheFastestRing()
    {
        // Small enough to try every split; the plan must be within the band of the best one.
        for (int seed = 0; seed < 200; seed++)
        {
            var random = new Random(1000 + seed);
            int nodeCount = random.Next(1, 4);
            int layers = random.Next(nodeCount, 13);
            var nodes = Enumerable.Range(0, nodeCount)
                .Select(i => Node($"n{i}", throughput: 0.5 + random.NextDouble() * 4,
                    freeMemory: random.Next(1, 9) * 100L + random.Next(0, 300)))
                .ToArray();
            PlanRequest request = Request(layers, SplitMode.Auto, layerBytes: 100, head: random.Next(0, 300));
            if (!IsFeasible(nodes, request))
            {
                Assert.Throws<PlanningException>(() => LayerPlanner.Plan(nodes, request));
                continue;
            }
            LayerPlan plan = LayerPlanner.Plan(nodes, request);
            AssertValid(plan, nodes, request);
            // A token passes the stages in turn: the plan's sum of stage times against the smallest any split reaches.
            double planned = Enumerable.Range(0, nodeCount).Sum(i => StageTime(plan, nodes, request, i));
            double best = double.PositiveInfinity;
            foreach (int[] counts in Compositions(layers, nodeCount))
            {
                if (!Fits(nodes, request, counts))
                {
                    continue;
                }
                double sum = 0;
                for (int i = 0; i < nodeCount; i++)
                {
                    sum += (counts[i] * 100.0 + (i == nodeCount - 1 ? request.HeadBytes : 0)) / nodes[i].Throughput;
                }
                best = Math.Min(best, sum);
            }
            Assert.InRange(planned, best - 1e-9, best * (1 + LayerPlanner.LatencyBand) + 1e-9);
        }
    }

    private static (PlanNode[] Nodes, PlanRequest Request) RandomCase(Random random)
    {
        int nodeCount = random.Next(1, 7);
        int layers = random.Next(nodeCount, 81);
        long layerBytes = random.Next(1, 1000);
        long kv = random.Next(0, 500);
        long embedding = random.Next(0, 3000);
        long head = random.Next(0, 3000);
        long perLayer = layerBytes + kv;
        // Enough for the model on average, spread unevenly, so some clusters fit and some do not.
        long average = (layers * perLayer + embedding + head) / nodeCount;
        var nodes = Enumerable.Range(0, nodeCount)
            .Select(i => Node($"10.0.0.{i}:5000", throughput: 0.1 + random.NextDouble() * 10,
                freeMemory: (long)(average * (0.5 + random.NextDouble() * 2.0))))
            .ToArray();
        PlanRequest request = Request(layers, SplitMode.Auto, layerBytes, embedding, head, kv);
        return (nodes, request);
    }

    /// <summary>True when some split gives every node at least one layer within its memory.</summary>
    private static bool IsFeasible(PlanNode[] nodes, PlanRequest request)
    {
        long holdable = 0;
        for (int i = 0; i < nodes.Length; i++)
        {
            long fixedBytes = (i == 0 ? request.EmbeddingBytes : 0) + (i == nodes.Length - 1 ? request.HeadBytes : 0);
            long room = nodes[i].FreeMemoryBytes - fixedBytes;
            long capacity = room < 0 ? 0 : room / (request.LayerWeightBytes + request.KvBytesPerLayer);
            if (capacity < 1)
            {
                return false;
            }
            holdable += capacity;
        }
        return holdable >= request.LayerCount;
    }

    private static bool Fits(PlanNode[] nodes, PlanRequest request, int[] counts)
    {
        for (int i = 0; i < nodes.Length; i++)
        {
            long bytes = counts[i] * (request.LayerWeightBytes + request.KvBytesPerLayer)
                + (i == 0 ? request.EmbeddingBytes : 0) + (i == nodes.Length - 1 ? request.HeadBytes : 0);
            if (bytes > nodes[i].FreeMemoryBytes)
            {
                return false;
            }
        }
        return true;
    }

    private static int[] RandomComposition(Random random, int total, int parts)
    {
        var counts = new int[parts];
        Array.Fill(counts, 1);
        for (int i = parts; i < total; i++)
        {
            counts[random.Next(parts)]++;
        }
        return counts;
    }

    private static IEnumerable<int[]> Compositions(int total, int parts)
    {
        if (parts == 1)
        {
            yield return [total];
            yield break;
        }
        for (int first = 1; first <= total - parts + 1; first++)
        {
            foreach (int[] rest in Compositions(total - first, parts - 1))
            {
                yield return [first, .. rest];
            }
        }
    }
}
