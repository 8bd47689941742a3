using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Ring;

namespace LlamaDist.Distributed.Tests.Cluster;

/// <summary>The micro-batch size of a pipelined prompt: the cost model's optimum, its bounds, and what it learns.</summary>
public sealed class PrefillPlannerTests
{
    [Fact]
    public void TheChosenSizeMinimisesThePredictedTime()
    {
        // 2 machines, 0.3 ms per hop, a stage pass 12 ms plus 9.5 ms per token: m* = sqrt(128 * 12.3 / 9.5) = 12.9,
        // and among whole micro-batches 16 (8 of them, 9 beats) is best.
        int chosen = PrefillPlanner.MicroBatch(128, 2, 0.3, 12, 9.5, 512);
        Assert.Equal(16, chosen);
        double best = Enumerable.Range(1, 128).Min(m => PrefillPlanner.PredictedMs(128, m, 2, 0.3, 12, 9.5));
        Assert.Equal(best, PrefillPlanner.PredictedMs(128, chosen, 2, 0.3, 12, 9.5));
        // Better than sending the prompt whole through the two stages in turn.
        Assert.True(PrefillPlanner.PredictedMs(128, chosen, 2, 0.3, 12, 9.5) < PrefillPlanner.PredictedMs(128, 128, 2, 0.3, 12, 9.5) * 0.7);
    }

    [Theory]
    [InlineData(128, 4, 0.3, 12, 9.5, 512, 8)]      // more stages: smaller pieces fill the pipeline sooner
    [InlineData(128, 2, 60, 12, 9.5, 512, 32)]      // a slow link: fewer, larger messages
    [InlineData(512, 2, 0.3, 120, 9.5, 64, 64)]     // never beyond the ring's largest step
    [InlineData(5, 2, 0.3, 12, 0.01, 512, 5)]       // never beyond the prompt
    [InlineData(128, 1, 0.3, 12, 9.5, 512, 128)]    // one machine: nothing overlaps, the prompt goes whole
    [InlineData(128, 2, 0, 0, 9.5, 512, 1)]         // nothing fixed: single tokens
    public void TheSizeFollowsStagesLinkAndLimits(int tokens, int stages, double hopMs, double fixedMs, double perTokenMs, int max, int expected) =>
        Assert.Equal(expected, PrefillPlanner.MicroBatch(tokens, stages, hopMs, fixedMs, perTokenMs, max));

    [Fact]
    public void TheCostModelLearnsFromStepsAndTheLink()
    {
        // Priors: 20 ms per lone token on the slower stage, b = 0.45 of it.
        var costs = new RingCostModel(2, [10, 20]);
        var (hop, fixedMs, perToken) = costs.Slowest();
        Assert.Equal(RingCostModel.DefaultHopMs, hop);
        Assert.Equal(20 * (1 - RingCostModel.BatchedTokenRatio), fixedMs, 6);
        Assert.Equal(20 * RingCostModel.BatchedTokenRatio, perToken, 6);

        // Observed: lone tokens cost 8 and 10 ms, each further token of a 33-token step 2 ms; the link 3 ms a hop.
        for (int i = 0; i < 40; i++)
        {
            costs.Observe([Timing(8), Timing(10)], 1, wallMs: 18 + 3 * 3, hops: 3);
            costs.Observe([Timing(8 + 32 * 2), Timing(10 + 32 * 2)], 33, wallMs: null, hops: 3);
        }
        (hop, fixedMs, perToken) = costs.Slowest();
        Assert.Equal(3, hop, 2);
        Assert.Equal(2, perToken, 2);
        Assert.Equal(8, fixedMs, 1);
        Assert.Equal(PrefillPlanner.MicroBatch(128, 2, hop, fixedMs, perToken, 512), costs.MicroBatch(128, 512));
    }

    private static StageTiming Timing(double ms) => new() { ComputeMicroseconds = (ulong)(ms * 1000) };
}
