using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Tests.Cluster;

/// <summary>
/// Greedy tokens of a cluster whose hand-offs are rounded (F16) against a local run. The rounding moves every
/// logit a little (2^-11 of the hidden state at each hand-off), so where the local run's own top two logits are
/// closer than <see cref="F16HandOffTieMargin"/> either may win: there the cluster's token must be one of the
/// local top two, and the comparison stops (the continuations differ from then on). Everywhere else the tokens
/// must be equal.
/// </summary>
internal static class GreedyAgreement
{
    /// <summary>
    /// Logit distance within which an F16 hand-off may swap the top two. The Small test models' logits are about
    /// 11 in size; F16 rounding of the hidden states moved them by up to about 0.01 in the runs measured, and the
    /// closest call met (the Q8_0 model's first step after the shared prompt) is 0.007 apart.
    /// </summary>
    public const double F16HandOffTieMargin = 0.05;

    /// <summary>
    /// Asserts <paramref name="actual"/> equals <paramref name="expected"/> (greedy continuations of
    /// <paramref name="promptIds"/>) up to the first local near-tie, and that the token chosen there is one of the
    /// local top two. Returns the number of steps that matched.
    /// </summary>
    public static int AssertAgrees(LocalModel local, int[] promptIds, int[] expected, int[] actual, double tieMargin)
    {
        for (int step = 0; step < expected.Length; step++)
        {
            Assert.True(step < actual.Length, $"The cluster stopped after {actual.Length} of {expected.Length} tokens.");
            if (actual[step] == expected[step])
            {
                continue;
            }
            AssertStep(local, [.. promptIds, .. expected[..step]], expected[step], actual[step], tieMargin);
            return step;
        }
        return expected.Length;
    }

    /// <summary>
    /// Asserts <paramref name="actual"/> is the local greedy token after <paramref name="prefix"/>
    /// (<paramref name="expected"/>), or, where the local top two are within <paramref name="tieMargin"/>, one of them.
    /// </summary>
    public static void AssertStep(LocalModel local, int[] prefix, int expected, int actual, double tieMargin)
    {
        if (actual == expected)
        {
            return;
        }
        float[] logits = local.EvaluateLastLogits(prefix);
        var top = logits.Select((value, token) => (value, token)).OrderByDescending(p => p.value).Take(2).ToArray();
        Assert.Equal(expected, top[0].token);
        double margin = top[0].value - top[1].value;
        Assert.True(margin <= tieMargin,
            $"After {prefix.Length} tokens the cluster chose {actual} where the local run chose {expected} by a margin of {margin} (> {tieMargin}).");
        Assert.Equal(top[1].token, actual);
    }
}
