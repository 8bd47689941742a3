using LlamaDist.Core.Model;

namespace LlamaDist.Distributed.Cluster;

/// <summary>
/// How a hybrid split arranges its workers: tensor-parallel groups (indexes into the worker list, in the order
/// the group's shards take their slices) that run as the stages of a layer pipeline, each group a contiguous
/// layer range. Pure, so the grouping and the layer division are testable without workers.
/// <code>
/// sizes [2]     over 5 workers: [0 1] [2 3] [4]        one size: groups of it in worker order, the last takes the rest
/// sizes [2, 1]  over 3 workers: [0 1] [2]              several: exactly these sizes, in order, summing to the workers
/// ranges 4 layers, group speeds [2, 1]: [0, 3) [3, 4)  layers in proportion to each group's summed throughput
/// </code>
/// </summary>
public static class HybridGrouping
{
    /// <summary>
    /// The groups <paramref name="sizes"/> describes over <paramref name="workerCount"/> workers in order;
    /// <see cref="PlanningException"/> when a size is not positive, several sizes do not add up to the workers,
    /// or the result is a single group (that is -Split Tensor).
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<int>> FromSizes(int workerCount, IReadOnlyList<int> sizes)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        if (sizes.Count == 0 || sizes.Any(size => size <= 0))
        {
            throw new PlanningException("Every tensor group size must be a positive number of workers.");
        }
        List<int> counts;
        if (sizes.Count == 1)
        {
            counts = [];
            for (int left = workerCount; left > 0; left -= sizes[0])
            {
                counts.Add(Math.Min(sizes[0], left));
            }
        }
        else
        {
            if (sizes.Sum() != workerCount)
            {
                throw new PlanningException($"The tensor group sizes {string.Join(",", sizes)} add up to {sizes.Sum()} workers, not the {workerCount} given.");
            }
            counts = [.. sizes];
        }
        if (counts.Count < 2)
        {
            throw new PlanningException(
                $"Groups of {sizes[0]} over {workerCount} workers make a single group: a hybrid split needs at least two (use -Split Tensor for one).");
        }
        var groups = new List<IReadOnlyList<int>>();
        int next = 0;
        foreach (int count in counts)
        {
            groups.Add(Enumerable.Range(next, count).ToArray());
            next += count;
        }
        return groups;
    }

    /// <summary>
    /// Contiguous layer ranges, one per group in order, covering all <paramref name="layerCount"/> layers, each
    /// in proportion to its group's summed throughput (rounded down, then largest remainders first, the earlier
    /// group on a tie) and at least one layer; <see cref="PlanningException"/> when there are more groups than layers.
    /// </summary>
    public static IReadOnlyList<LayerRange> Ranges(int layerCount, IReadOnlyList<double> groupThroughputs)
    {
        ArgumentNullException.ThrowIfNull(groupThroughputs);
        int groups = groupThroughputs.Count;
        if (groups == 0 || groupThroughputs.Any(speed => !double.IsFinite(speed) || speed <= 0))
        {
            throw new ArgumentException("Every group needs a positive throughput.", nameof(groupThroughputs));
        }
        if (layerCount < groups)
        {
            throw new PlanningException($"A model of {layerCount} layers cannot be divided between {groups} tensor groups; use fewer groups.");
        }
        double total = groupThroughputs.Sum();
        var counts = new int[groups];
        var remainders = new double[groups];
        int given = 0;
        for (int i = 0; i < groups; i++)
        {
            double exact = layerCount * groupThroughputs[i] / total;
            counts[i] = Math.Max(1, (int)Math.Floor(exact));
            remainders[i] = exact - counts[i];
            given += counts[i];
        }
        while (given < layerCount)
        {
            int best = 0;
            for (int i = 1; i < groups; i++)
            {
                if (remainders[i] > remainders[best])
                {
                    best = i;
                }
            }
            counts[best]++;
            remainders[best] -= 1;
            given++;
        }
        while (given > layerCount)
        {
            // Groups raised to their one layer pushed the sum over: take from the group furthest above its share.
            int most = -1;
            for (int i = 0; i < groups; i++)
            {
                if (counts[i] > 1 && (most < 0 || remainders[i] < remainders[most]))
                {
                    most = i;
                }
            }
            counts[most]--;
            remainders[most] += 1;
            given--;
        }
        var ranges = new LayerRange[groups];
        int start = 0;
        for (int i = 0; i < groups; i++)
        {
            ranges[i] = new LayerRange(start, start + counts[i]);
            start += counts[i];
        }
        return ranges;
    }

    /// <summary>
    /// The groupings -Split Auto weighs, from each worker's measured link: workers ordered by round trip (then by
    /// bandwidth, then by position), so those with the fastest links share a group and the slow ones are left to
    /// the hops between groups, cut into 2 to N - 1 groups of near-equal size (the larger groups first). Fewer
    /// than 3 workers have no hybrid grouping.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<IReadOnlyList<int>>> Candidates(IReadOnlyList<LinkFigures> links)
    {
        ArgumentNullException.ThrowIfNull(links);
        int count = links.Count;
        var order = Enumerable.Range(0, count)
            .OrderBy(i => links[i].RoundTripSeconds).ThenByDescending(i => links[i].BytesPerSecond).ThenBy(i => i).ToArray();
        var candidates = new List<IReadOnlyList<IReadOnlyList<int>>>();
        for (int groupCount = 2; groupCount < count; groupCount++)
        {
            var groups = new List<IReadOnlyList<int>>();
            int next = 0;
            for (int g = 0; g < groupCount; g++)
            {
                int size = count / groupCount + (g < count % groupCount ? 1 : 0);
                groups.Add(order.Skip(next).Take(size).ToArray());
                next += size;
            }
            candidates.Add(groups);
        }
        return candidates;
    }
}
