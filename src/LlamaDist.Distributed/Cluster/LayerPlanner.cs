using System.Globalization;
using LlamaDist.Core.Model;

namespace LlamaDist.Distributed.Cluster;

/// <summary>
/// Divides a model's layers between nodes in ring order: node 0 gets the first range (and the embedding), the
/// last node the last range (and the output head). Pure and deterministic: same nodes and request, same plan.
/// <para>
/// Every node gets at least one layer and never more than fits its free memory:
/// embedding/head (first/last node) + layers × (layer weights + layer KV) ≤ free memory.
/// </para>
/// <list type="bullet">
/// <item><see cref="SplitMode.Even"/>: equal counts, the remainder to the first nodes.</item>
/// <item><see cref="SplitMode.Explicit"/>: the caller's counts, checked to sum to the layer count and to fit.</item>
/// <item><see cref="SplitMode.Auto"/>: minimises the time a decoded token takes through the ring. A stage's
/// time is the weight bytes it streams per token over its throughput — layers × layer bytes, plus the output
/// head on the last node — and a token passes the stages one after the other, so the token's time is their
/// sum: every layer beyond each node's first goes to the fastest node with room (a 2:1 faster node takes nearly
/// all of them; a full node passes the rest to the next fastest). Among plans within
/// <see cref="LatencyBand"/> of that sum the most balanced is taken (layers move from the slowest stage while
/// the sum stays in the band and the slowest stage gets faster), which keeps pipelined prompts and concurrent
/// sequences flowing and gives nodes of equal speed equal shares.</item>
/// <item><see cref="SplitMode.Memory"/>: minimises the largest fraction of free memory used, which is
/// proportional to free memory, embedding and head included.</item>
/// </list>
/// Memory adds one layer at a time to the node whose cost after the addition is smallest (earlier node on a tie)
/// among nodes with room left; for costs that grow with each layer this greedy order reaches the smallest possible
/// maximum cost.
/// </summary>
public static class LayerPlanner
{
    /// <summary>
    /// How much slower than the fastest ring (in the sum of stage times) Auto accepts for a more balanced one: 5%,
    /// about the run-to-run noise of the throughput measurements the plan comes from.
    /// </summary>
    public const double LatencyBand = 0.05;

    public static LayerPlan Plan(IReadOnlyList<PlanNode> nodes, PlanRequest request)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(request);
        ValidateRequest(request);
        ValidateNodes(nodes);

        int nodeCount = nodes.Count;
        int layerCount = request.LayerCount;
        if (nodeCount > layerCount)
        {
            throw new PlanningException(
                $"{nodeCount} nodes cannot share {layerCount} layers: every node needs at least one layer. " +
                "Remove nodes or use a model with more layers.");
        }
        int[]? explicitCounts = request.Mode == SplitMode.Explicit ? ValidateExplicitCounts(nodes, request) : null;
        if (request.Mode == SplitMode.Auto)
        {
            ValidateThroughputs(nodes);
        }

        long[] fixedBytes = FixedBytes(nodeCount, request);
        int[] capacities = Capacities(nodes, request, fixedBytes);
        EnsureEveryNodeHoldsOneLayer(nodes, request, fixedBytes, capacities);
        EnsureClusterHoldsModel(nodes, request, capacities);

        int[] counts = request.Mode switch
        {
            SplitMode.Even => Array.ConvertAll(LayerRange.Split(layerCount, nodeCount), range => range.Count),
            SplitMode.Explicit => explicitCounts!,
            SplitMode.Memory => Greedy(capacities, layerCount,
                (node, layers) => (fixedBytes[node] + (double)layers * request.BytesPerLayer) / nodes[node].FreeMemoryBytes),
            SplitMode.Auto => FastestRing(capacities, layerCount,
                (node, layers) => ((double)layers * request.LayerWeightBytes
                    + (node == nodeCount - 1 ? request.HeadBytes : 0)) / nodes[node].Throughput),
            _ => throw new ArgumentOutOfRangeException(nameof(request), request.Mode, "Unknown split mode."),
        };
        EnsureCountsFit(nodes, request, fixedBytes, capacities, counts);
        return BuildPlan(nodes, request, fixedBytes, counts);
    }

    private static void ValidateRequest(PlanRequest request)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(request.LayerCount, nameof(request.LayerCount));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(request.LayerWeightBytes, nameof(request.LayerWeightBytes));
        ArgumentOutOfRangeException.ThrowIfNegative(request.EmbeddingBytes, nameof(request.EmbeddingBytes));
        ArgumentOutOfRangeException.ThrowIfNegative(request.HeadBytes, nameof(request.HeadBytes));
        ArgumentOutOfRangeException.ThrowIfNegative(request.KvBytesPerLayer, nameof(request.KvBytesPerLayer));
        if (!Enum.IsDefined(request.Mode))
        {
            throw new ArgumentOutOfRangeException(nameof(request), request.Mode, "Unknown split mode.");
        }
    }

    private static void ValidateNodes(IReadOnlyList<PlanNode> nodes)
    {
        if (nodes.Count == 0)
        {
            throw new PlanningException("No nodes to plan for: give at least one worker.");
        }
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < nodes.Count; i++)
        {
            PlanNode node = nodes[i] ?? throw new ArgumentException($"Node {i} is null.", nameof(nodes));
            if (string.IsNullOrWhiteSpace(node.Endpoint))
            {
                throw new PlanningException($"Node {i} has no endpoint.");
            }
            if (node.FreeMemoryBytes < 0)
            {
                throw new PlanningException(
                    $"Node {node.Endpoint} reports {node.FreeMemoryBytes} bytes of free memory; it cannot be negative.")
                { Endpoint = node.Endpoint };
            }
            if (!seen.Add(node.Endpoint))
            {
                throw new PlanningException(
                    $"Node {node.Endpoint} is listed twice; list each worker once (its free memory would count twice).")
                { Endpoint = node.Endpoint };
            }
        }
    }

    private static void ValidateThroughputs(IReadOnlyList<PlanNode> nodes)
    {
        foreach (PlanNode node in nodes)
        {
            if (!double.IsFinite(node.Throughput) || node.Throughput <= 0)
            {
                throw new PlanningException(
                    $"Node {node.Endpoint} reports throughput {node.Throughput.ToString(CultureInfo.InvariantCulture)}; " +
                    "the Auto split needs a positive measured throughput for every node (use Even or Memory otherwise).")
                { Endpoint = node.Endpoint };
            }
        }
    }

    private static int[] ValidateExplicitCounts(IReadOnlyList<PlanNode> nodes, PlanRequest request)
    {
        IReadOnlyList<int> counts = request.ExplicitLayerCounts
            ?? throw new PlanningException("The Explicit split needs a layer count for every node (ExplicitLayerCounts).");
        if (counts.Count != nodes.Count)
        {
            throw new PlanningException(
                $"The Explicit split gives {counts.Count} layer counts for {nodes.Count} nodes; give one per node.");
        }
        long sum = 0;
        for (int i = 0; i < counts.Count; i++)
        {
            if (counts[i] < 1)
            {
                throw new PlanningException(
                    $"The Explicit split gives node {nodes[i].Endpoint} {counts[i]} layers; every node needs at least one.")
                { Endpoint = nodes[i].Endpoint };
            }
            sum += counts[i];
        }
        if (sum != request.LayerCount)
        {
            throw new PlanningException(
                $"The Explicit layer counts ({string.Join(", ", counts)}) sum to {sum} but the model has " +
                $"{request.LayerCount} layers.");
        }
        return counts.ToArray();
    }

    /// <summary>Bytes a node holds whatever its layer count: the embedding on the first, the head on the last.</summary>
    private static long[] FixedBytes(int nodeCount, PlanRequest request)
    {
        var fixedBytes = new long[nodeCount];
        fixedBytes[0] += request.EmbeddingBytes;
        fixedBytes[nodeCount - 1] = checked(fixedBytes[nodeCount - 1] + request.HeadBytes);
        return fixedBytes;
    }

    /// <summary>Most layers each node can hold (at most the model's layer count; below 1 when none fit).</summary>
    private static int[] Capacities(IReadOnlyList<PlanNode> nodes, PlanRequest request, long[] fixedBytes)
    {
        var capacities = new int[nodes.Count];
        for (int i = 0; i < nodes.Count; i++)
        {
            long room = nodes[i].FreeMemoryBytes - fixedBytes[i];
            capacities[i] = room < 0 ? 0 : (int)Math.Min(room / request.BytesPerLayer, request.LayerCount);
        }
        return capacities;
    }

    private static void EnsureEveryNodeHoldsOneLayer(IReadOnlyList<PlanNode> nodes, PlanRequest request,
        long[] fixedBytes, int[] capacities)
    {
        for (int i = 0; i < nodes.Count; i++)
        {
            if (capacities[i] >= 1)
            {
                continue;
            }
            long needed = checked(fixedBytes[i] + request.BytesPerLayer);
            string extras = DescribeFixed(i, nodes.Count, request);
            throw new PlanningException(
                $"Node {nodes[i].Endpoint} cannot hold even one layer: it needs {Bytes(needed)} " +
                $"(layer weights {Bytes(request.LayerWeightBytes)} + KV {Bytes(request.KvBytesPerLayer)}{extras}) " +
                $"but has {Bytes(nodes[i].FreeMemoryBytes)} free.")
            { Endpoint = nodes[i].Endpoint };
        }
    }

    private static void EnsureClusterHoldsModel(IReadOnlyList<PlanNode> nodes, PlanRequest request, int[] capacities)
    {
        long holdable = capacities.Sum(capacity => (long)capacity);
        if (holdable >= request.LayerCount)
        {
            return;
        }
        long needed = checked(request.LayerCount * request.BytesPerLayer + request.EmbeddingBytes + request.HeadBytes);
        long free = nodes.Sum(node => node.FreeMemoryBytes);
        throw new PlanningException(
            $"The cluster's memory is too small for the model: it needs {Bytes(needed)} " +
            $"({request.LayerCount} layers × {Bytes(request.BytesPerLayer)} weights+KV, embedding " +
            $"{Bytes(request.EmbeddingBytes)}, head {Bytes(request.HeadBytes)}) but the {nodes.Count} nodes have " +
            $"{Bytes(free)} free and can hold only {holdable} of {request.LayerCount} layers.");
    }

    private static void EnsureCountsFit(IReadOnlyList<PlanNode> nodes, PlanRequest request, long[] fixedBytes,
        int[] capacities, int[] counts)
    {
        int start = 0;
        for (int i = 0; i < nodes.Count; i++)
        {
            if (counts[i] > capacities[i])
            {
                long needed = checked(fixedBytes[i] + counts[i] * request.BytesPerLayer);
                throw new PlanningException(
                    $"Node {nodes[i].Endpoint} cannot hold layers {new LayerRange(start, start + counts[i])} " +
                    $"({counts[i]} layers{DescribeFixed(i, nodes.Count, request)}): it needs {Bytes(needed)} but has " +
                    $"{Bytes(nodes[i].FreeMemoryBytes)} free, room for {capacities[i]} layers. " +
                    "Use the Auto or Memory split, or move layers to other nodes.")
                { Endpoint = nodes[i].Endpoint };
            }
            start += counts[i];
        }
    }

    /// <summary>
    /// Starts every node at one layer, then gives each remaining layer to the node with room whose cost after
    /// taking it is lowest (earliest node on a tie). Callers have checked that capacities sum to at least
    /// <paramref name="layerCount"/> and are all at least 1.
    /// </summary>
    /// <summary>
    /// Auto's plan: one layer per node, the rest to the nodes of the cheapest layer first (up to their room), then
    /// layers moved off the slowest stage while the sum of stage times stays within <see cref="LatencyBand"/> of
    /// that minimum and the slowest stage gets faster. <paramref name="stageTime"/>(node, layers) grows linearly
    /// with the layers, so filling the cheapest nodes first gives the smallest sum.
    /// </summary>
    private static int[] FastestRing(int[] capacities, int layerCount, Func<int, int, double> stageTime)
    {
        int nodeCount = capacities.Length;
        var counts = new int[nodeCount];
        Array.Fill(counts, 1);
        int[] cheapestFirst = Enumerable.Range(0, nodeCount)
            .OrderBy(node => stageTime(node, 2) - stageTime(node, 1))
            .ThenBy(node => node)
            .ToArray();
        int remaining = layerCount - nodeCount;
        foreach (int node in cheapestFirst)
        {
            int added = Math.Min(remaining, capacities[node] - counts[node]);
            counts[node] += added;
            remaining -= added;
        }

        double limit = Enumerable.Range(0, nodeCount).Sum(node => stageTime(node, counts[node])) * (1 + LatencyBand);
        // Each accepted move makes the slowest stage strictly faster, so the loop ends; the bound is a backstop.
        for (int move = 0; move < layerCount * nodeCount; move++)
        {
            int slowest = 0;
            for (int node = 1; node < nodeCount; node++)
            {
                if (stageTime(node, counts[node]) > stageTime(slowest, counts[slowest]))
                {
                    slowest = node;
                }
            }
            double slowestTime = stageTime(slowest, counts[slowest]);
            if (counts[slowest] <= 1)
            {
                break;
            }
            // The node to take it: the smallest slowest stage after the move, then the least loaded taker.
            int target = -1;
            double targetMax = double.PositiveInfinity;
            double targetTime = double.PositiveInfinity;
            for (int node = 0; node < nodeCount; node++)
            {
                if (node == slowest || counts[node] >= capacities[node])
                {
                    continue;
                }
                double newMax = 0;
                double newSum = 0;
                for (int other = 0; other < nodeCount; other++)
                {
                    int layers = counts[other] + (other == node ? 1 : other == slowest ? -1 : 0);
                    double time = stageTime(other, layers);
                    newMax = Math.Max(newMax, time);
                    newSum += time;
                }
                double takerTime = stageTime(node, counts[node] + 1);
                if (newSum <= limit && (newMax < targetMax || (newMax == targetMax && takerTime < targetTime)))
                {
                    target = node;
                    targetMax = newMax;
                    targetTime = takerTime;
                }
            }
            if (target < 0 || targetMax >= slowestTime)
            {
                break;
            }
            counts[slowest]--;
            counts[target]++;
        }
        return counts;
    }

    private static int[] Greedy(int[] capacities, int layerCount, Func<int, int, double> costWithLayers)
    {
        int nodeCount = capacities.Length;
        var counts = new int[nodeCount];
        Array.Fill(counts, 1);
        for (int assigned = nodeCount; assigned < layerCount; assigned++)
        {
            int best = -1;
            double bestCost = double.PositiveInfinity;
            for (int node = 0; node < nodeCount; node++)
            {
                if (counts[node] >= capacities[node])
                {
                    continue;
                }
                double cost = costWithLayers(node, counts[node] + 1);
                if (best < 0 || cost < bestCost)
                {
                    best = node;
                    bestCost = cost;
                }
            }
            counts[best]++;
        }
        return counts;
    }

    private static LayerPlan BuildPlan(IReadOnlyList<PlanNode> nodes, PlanRequest request, long[] fixedBytes,
        int[] counts)
    {
        var stages = new LayerAssignment[nodes.Count];
        int start = 0;
        for (int i = 0; i < nodes.Count; i++)
        {
            var layers = new LayerRange(start, start + counts[i]);
            long weightBytes = checked(counts[i] * request.LayerWeightBytes + fixedBytes[i]);
            long kvBytes = checked(counts[i] * request.KvBytesPerLayer);
            stages[i] = new LayerAssignment(i, nodes[i].Endpoint, layers, weightBytes, kvBytes);
            start = layers.EndExclusive;
        }
        return new LayerPlan(request.Mode, request.LayerCount, stages);
    }

    private static string DescribeFixed(int node, int nodeCount, PlanRequest request)
    {
        string text = "";
        if (node == 0 && request.EmbeddingBytes > 0)
        {
            text += $" + embedding {Bytes(request.EmbeddingBytes)}";
        }
        if (node == nodeCount - 1 && request.HeadBytes > 0)
        {
            text += $" + head {Bytes(request.HeadBytes)}";
        }
        return text;
    }

    /// <summary>Exact byte count (so messages can be compared with the inputs) and a readable MiB figure.</summary>
    private static string Bytes(long bytes) =>
        string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes ({bytes / (1024.0 * 1024.0):0.0} MiB)");
}
