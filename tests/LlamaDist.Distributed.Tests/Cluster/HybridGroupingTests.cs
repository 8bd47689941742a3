using LlamaDist.Core.Model;
using LlamaDist.Distributed.Cluster;

namespace LlamaDist.Distributed.Tests.Cluster;

/// <summary>How a hybrid split forms its groups and divides the layers between them.</summary>
public sealed class HybridGroupingTests
{
    private static int[][] Plain(IReadOnlyList<IReadOnlyList<int>> groups) => groups.Select(group => group.ToArray()).ToArray();

    [Fact]
    public void One_size_makes_groups_of_it_in_worker_order_the_last_taking_the_rest()
    {
        Assert.Equal([[0, 1], [2, 3]], Plain(HybridGrouping.FromSizes(4, [2])));
        Assert.Equal([[0, 1], [2, 3], [4]], Plain(HybridGrouping.FromSizes(5, [2])));
        Assert.Equal([[0, 1, 2], [3]], Plain(HybridGrouping.FromSizes(4, [3])));
    }

    [Fact]
    public void Several_sizes_are_taken_as_given()
    {
        Assert.Equal([[0, 1], [2]], Plain(HybridGrouping.FromSizes(3, [2, 1])));
        Assert.Equal([[0], [1, 2, 3]], Plain(HybridGrouping.FromSizes(4, [1, 3])));
    }

    [Fact]
    public void Sizes_that_do_not_fit_the_workers_are_planning_errors()
    {
        Assert.Contains("add up to 4", Assert.Throws<PlanningException>(() => HybridGrouping.FromSizes(3, [2, 2])).Message);
        Assert.Contains("single group", Assert.Throws<PlanningException>(() => HybridGrouping.FromSizes(2, [2])).Message);
        Assert.Contains("single group", Assert.Throws<PlanningException>(() => HybridGrouping.FromSizes(3, [4])).Message);
        Assert.Throws<PlanningException>(() => HybridGrouping.FromSizes(3, [0]));
        Assert.Throws<PlanningException>(() => HybridGrouping.FromSizes(3, [2, -1, 2]));
    }

    [Fact]
    public void Layers_follow_each_groups_summed_speed_and_cover_the_model_once()
    {
        Assert.Equal([new LayerRange(0, 2), new LayerRange(2, 4)], HybridGrouping.Ranges(4, [50e9, 50e9]));
        // A pair against a single node of the same speed: two thirds of 22 layers (14.67 → 15) to the pair.
        Assert.Equal([new LayerRange(0, 15), new LayerRange(15, 22)], HybridGrouping.Ranges(22, [50e9, 25e9]));
        // Every group keeps at least one layer however slow it is.
        Assert.Equal([new LayerRange(0, 3), new LayerRange(3, 4)], HybridGrouping.Ranges(4, [1e12, 1]));
        Assert.Contains("3 tensor groups", Assert.Throws<PlanningException>(() => HybridGrouping.Ranges(2, [1, 1, 1])).Message);
        Assert.Throws<ArgumentException>(() => HybridGrouping.Ranges(4, [1, double.NaN]));
    }

    [Fact]
    public void Candidates_group_the_workers_with_the_fastest_links_together()
    {
        var fast = new LinkFigures(0.05e-3, 1e9);
        var slow = new LinkFigures(5e-3, 6.25e6);
        // Workers 1 and 3 are on the fast link: every candidate starts with them as its first group.
        var candidates = HybridGrouping.Candidates([slow, fast, slow, fast]);

        Assert.Equal(2, candidates.Count);
        Assert.Equal([[1, 3], [0, 2]], Plain(candidates[0]));
        Assert.Equal([[1, 3], [0], [2]], Plain(candidates[1]));
        Assert.Empty(HybridGrouping.Candidates([fast, fast]));
    }
}
