using LlamaDist.Core.Sampling;

namespace LlamaDist.Core.Tests.Sampling;

/// <summary>
/// Sampling from a selection of the logits (what a GPU hands back: the largest ones and the penalized tokens')
/// picks exactly the tokens sampling from every logit picks, draw for draw, for every setting of the chain.
/// </summary>
public sealed class CandidateSamplingTests
{
    public static TheoryData<float, int, float, float, float, int> Settings => new()
    {
        // temperature, top-k, top-p, min-p, repeat penalty, repeat window
        { 0.8f, 40, 0.95f, 0.05f, 1.0f, 64 },
        { 1.5f, 5, 1.0f, 0.0f, 1.0f, 64 },
        { 1.0f, 1, 1.0f, 0.0f, 1.0f, 64 },
        { 0.7f, 40, 0.9f, 0.1f, 1.3f, 16 },
        { 1.2f, 20, 1.0f, 0.0f, 0.8f, 32 },   // a penalty below 1 lifts recent tokens into the top
        { 0.0f, 40, 0.95f, 0.05f, 1.5f, 64 }, // greedy after the penalty
        { 0.9f, 10, 0.95f, 0.05f, 1.1f, -1 }, // the whole history
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void Selection_gives_the_tokens_of_the_full_row(float temperature, int topK, float topP, float minP, float penalty, int window)
    {
        const int vocabulary = 700;
        var random = new Random(topK * 31 + window);
        var options = new SamplingOptions
        {
            Temperature = temperature, TopK = topK, TopP = topP, MinP = minP, RepeatPenalty = penalty, RepeatLastN = window, Seed = 9,
        };
        var full = new Sampler(options);
        var selected = new Sampler(options);
        var history = new List<int>();
        for (int step = 0; step < 60; step++)
        {
            // Logits with ties (rounded to quarters), negative values and some recent tokens among the largest.
            float[] logits = Enumerable.Range(0, vocabulary).Select(_ => MathF.Round((float)(random.NextDouble() * 12 - 6) * 4) / 4).ToArray();
            var recent = history.ToArray();
            int[] penalized = new int[Math.Max(1, recent.Length)];
            int penalizedCount = selected.PenalizedTokens(recent, vocabulary, penalized);
            int wanted = selected.CandidatesNeeded(vocabulary, penalizedCount);
            Assert.True(wanted > 0, "a top-k sampler needs only a selection");
            var (ids, values) = Select(logits, wanted, penalized.AsSpan(0, penalizedCount));

            int expected = full.Sample(logits, recent);
            int actual = selected.SampleCandidates(ids, values, vocabulary, recent);
            Assert.Equal(expected, actual);
            history.Add(actual);
        }
    }

    [Fact]
    public void Without_a_top_k_every_logit_is_needed()
    {
        var sampler = new Sampler(new SamplingOptions { TopK = 0, Temperature = 1 });
        Assert.Equal(0, sampler.CandidatesNeeded(1000, 0));
        var wide = new Sampler(new SamplingOptions { TopK = 990, Temperature = 1, RepeatPenalty = 1.1f });
        Assert.Equal(0, wide.CandidatesNeeded(1000, 10));
        Assert.Equal(999, wide.CandidatesNeeded(1000, 9));
        Assert.Equal(4, new Sampler(new SamplingOptions { Temperature = 0 }).CandidatesNeeded(1000, 3));
    }

    [Fact]
    public void Penalized_tokens_are_the_distinct_recent_ones_of_the_window()
    {
        var sampler = new Sampler(new SamplingOptions { RepeatPenalty = 1.2f, RepeatLastN = 4 });
        int[] destination = new int[8];
        int count = sampler.PenalizedTokens([9, 1, 2, 2, 1, 3], 10, destination);
        Assert.Equal([2, 1, 3], destination[..count]);
        Assert.Equal(0, new Sampler(new SamplingOptions { RepeatPenalty = 1f }).PenalizedTokens([1, 2], 10, destination));
    }

    [Fact]
    public void A_candidate_outside_the_vocabulary_is_refused()
    {
        var sampler = new Sampler(new SamplingOptions { Seed = 1 });
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.SampleCandidates([3, 12], [1f, 2f], 10, []));
        Assert.Throws<ArgumentException>(() => sampler.SampleCandidates([3], [1f, 2f], 10, []));
        // The sampler is still usable afterwards (its scratch was cleared).
        Assert.Equal(3, new Sampler(new SamplingOptions { Temperature = 0 }).SampleCandidates([3, 4], [2f, 1f], 10, []));
    }

    /// <summary>What the device returns: every logit at least the wanted-th largest (ties included), then the penalized tokens'.</summary>
    private static (int[] Ids, float[] Values) Select(float[] logits, int wanted, ReadOnlySpan<int> extra)
    {
        float threshold = logits.OrderByDescending(value => value).ElementAt(wanted - 1);
        var ids = Enumerable.Range(0, logits.Length).Where(i => logits[i] >= threshold).ToList();
        // Unordered, as the device's appends are.
        var shuffled = ids.OrderBy(id => (id * 7919) % 1013).ToList();
        shuffled.AddRange(extra.ToArray());
        return (shuffled.ToArray(), shuffled.Select(id => logits[id]).ToArray());
    }
}
