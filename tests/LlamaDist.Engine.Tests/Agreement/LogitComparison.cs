namespace LlamaDist.Engine.Tests.Agreement;

/// <summary>Ways to compare two logit vectors.</summary>
public static class LogitComparison
{
    public static (double Cosine, double MaxAbsoluteDifference) Compare(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double dot = 0, expectedNorm = 0, actualNorm = 0, maxAbs = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(float.IsFinite(actual[i]), $"logit {i} is {actual[i]}");
            dot += (double)expected[i] * actual[i];
            expectedNorm += (double)expected[i] * expected[i];
            actualNorm += (double)actual[i] * actual[i];
            maxAbs = Math.Max(maxAbs, Math.Abs(expected[i] - actual[i]));
        }
        return (dot / Math.Sqrt(expectedNorm * actualNorm), maxAbs);
    }

    /// <summary>Top-1 minus top-2 logit: how clear the greedy choice is.</summary>
    public static double TopTwoMargin(ReadOnlySpan<float> logits)
    {
        float first = float.NegativeInfinity, second = float.NegativeInfinity;
        foreach (var value in logits)
        {
            if (value > first) { second = first; first = value; }
            else if (value > second) second = value;
        }
        return first - second;
    }

    public static double Spread(ReadOnlySpan<float> logits)
    {
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (var value in logits) { min = Math.Min(min, value); max = Math.Max(max, value); }
        return max - min;
    }
}
