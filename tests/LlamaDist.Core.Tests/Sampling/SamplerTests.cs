using LlamaDist.Core.Sampling;

namespace LlamaDist.Core.Tests.Sampling;

public sealed class SamplerTests
{
    private static readonly float[] LogOfFive = Logs(0.5, 0.3, 0.1, 0.06, 0.04);

    [Theory]
    [InlineData(0f)]
    [InlineData(-1f)]
    public void Zero_temperature_is_greedy_and_picks_the_first_maximum(float temperature)
    {
        var sampler = new Sampler(new SamplingOptions { Temperature = temperature, Seed = 1 });
        Assert.Equal(1, sampler.Sample([0.1f, 2f, 2f, -1f], []));
        Assert.Equal(3, sampler.Sample([-5f, -4f, -3f, -0.5f], []));
    }

    [Fact]
    public void Top_k_of_one_equals_greedy_whatever_the_seed()
    {
        var random = new Random(7);
        for (int trial = 0; trial < 50; trial++)
        {
            float[] logits = Enumerable.Range(0, 300).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray();
            var greedy = new Sampler(new SamplingOptions { Temperature = 0 });
            var topOne = new Sampler(new SamplingOptions { Temperature = 1.5f, TopK = 1, Seed = trial });
            Assert.Equal(greedy.Sample(logits, []), topOne.Sample(logits, []));
        }
    }

    [Fact]
    public void Same_seed_gives_the_same_tokens_and_another_seed_does_not()
    {
        var random = new Random(3);
        float[][] steps = Enumerable.Range(0, 40)
            .Select(_ => Enumerable.Range(0, 500).Select(_ => (float)(random.NextDouble() * 6)).ToArray()).ToArray();
        int[] Run(int seed)
        {
            var sampler = new Sampler(new SamplingOptions { Seed = seed, TopK = 0, TopP = 1, MinP = 0, Temperature = 1 });
            return steps.Select(logits => sampler.Sample(logits, [])).ToArray();
        }

        Assert.Equal(Run(1234), Run(1234));
        Assert.NotEqual(Run(1234), Run(1235));
    }

    [Fact]
    public void Seeded_draws_are_pinned_so_every_machine_gets_the_same_tokens()
    {
        // xoshiro256** from splitmix64(42): first uniforms 0.0839..., 0.3790..., 0.6800... against the cumulative
        // distribution 0.5, 0.8, 0.9, 0.96, 1.0.
        var sampler = new Sampler(new SamplingOptions { Seed = 42, TopK = 0, TopP = 1, MinP = 0, Temperature = 1 });
        int[] tokens = Enumerable.Range(0, 3).Select(_ => sampler.Sample(LogOfFive, [])).ToArray();
        Assert.Equal([0, 0, 1], tokens);
        Assert.Equal(42u, sampler.Seed);
    }

    [Fact]
    public void Generator_matches_the_reference_xoshiro256_star_star_outputs()
    {
        // Values from an independent implementation of splitmix64 seeding + xoshiro256** (Blackman and Vigna).
        var zero = new Xoshiro256StarStar(0);
        Assert.Equal(0x99ec5f36cb75f2b4UL, zero.NextUInt64());
        Assert.Equal(0xbf6e1f784956452aUL, zero.NextUInt64());
        Assert.Equal(0x1a5f849d4933e6e0UL, zero.NextUInt64());
        var fortyTwo = new Xoshiro256StarStar(42);
        Assert.Equal(0x15780b2e0c2ec716UL, fortyTwo.NextUInt64());
        Assert.Equal(0x6104d9866d113a7eUL, fortyTwo.NextUInt64());
    }

    [Theory]
    [InlineData(1.0f)]
    [InlineData(0.5f)]
    [InlineData(2.0f)]
    public void Draw_frequencies_follow_the_tempered_softmax(float temperature)
    {
        float[] logits = [1f, 2f, 0.5f, -1f, 3f];
        double[] expected = Softmax(logits.Select(l => l / (double)temperature).ToArray());
        var sampler = new Sampler(new SamplingOptions { Seed = 99, TopK = 0, TopP = 1, MinP = 0, Temperature = temperature });
        const int draws = 20000;
        var counts = new int[logits.Length];
        for (int i = 0; i < draws; i++)
        {
            counts[sampler.Sample(logits, [])]++;
        }

        double chiSquare = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            double expectedCount = expected[i] * draws;
            chiSquare += (counts[i] - expectedCount) * (counts[i] - expectedCount) / expectedCount;
        }
        // 4 degrees of freedom: P(chi^2 > 18.47) = 0.001 for a correct sampler.
        Assert.True(chiSquare < 18.47, $"chi-square {chiSquare:F2}, counts {string.Join(", ", counts)}");
    }

    [Fact]
    public void Repeat_penalty_divides_positive_and_multiplies_negative_logits_once_per_distinct_token()
    {
        var options = new SamplingOptions { Temperature = 0, RepeatPenalty = 1.1f, RepeatLastN = 64 };
        var sampler = new Sampler(options);
        // 2.0 / 1.1 = 1.82 falls below 1.9.
        Assert.Equal(1, sampler.Sample([2.0f, 1.9f, -0.5f], [0]));
        // -1 * 1.1 = -1.1 falls below -1.05.
        Assert.Equal(1, sampler.Sample([-1f, -1.05f], [0]));
        // Token 0 seen three times is penalized once: 4 / 1.1 = 3.64 still beats 3.5 (4 / 1.1^3 = 3.0 would not).
        Assert.Equal(0, sampler.Sample([4f, 3.5f], [0, 0, 0]));
        // Without the penalty the argmax is token 0.
        Assert.Equal(0, new Sampler(new SamplingOptions { Temperature = 0 }).Sample([2.0f, 1.9f, -0.5f], [0]));
    }

    [Fact]
    public void Repeat_penalty_only_looks_at_the_last_n_tokens()
    {
        var lastOne = new Sampler(new SamplingOptions { Temperature = 0, RepeatPenalty = 1.1f, RepeatLastN = 1 });
        Assert.Equal(0, lastOne.Sample([2.0f, 1.9f, 0f], [0, 2]));
        var none = new Sampler(new SamplingOptions { Temperature = 0, RepeatPenalty = 1.1f, RepeatLastN = 0 });
        Assert.Equal(0, none.Sample([2.0f, 1.9f, 0f], [0]));
        var all = new Sampler(new SamplingOptions { Temperature = 0, RepeatPenalty = 1.1f, RepeatLastN = -1 });
        Assert.Equal(1, all.Sample([2.0f, 1.9f, 0f], [0, 2, 2, 2, 2]));
    }

    [Fact]
    public void Min_p_drops_tokens_below_the_fraction_of_the_top_probability()
    {
        // p = 0.5, 0.3, 0.1, 0.06, 0.04 with min_p 0.15: the bar is 0.075, so tokens 3 and 4 go.
        int[] counts = Histogram(new SamplingOptions { Seed = 5, TopK = 0, TopP = 1, MinP = 0.15f, Temperature = 1 }, LogOfFive);
        Assert.Equal(0, counts[3]);
        Assert.Equal(0, counts[4]);
        Assert.All(counts[..3], count => Assert.True(count > 0));
        // Survivors are renormalized: 0.1 / 0.9 of the draws go to token 2.
        Assert.InRange(counts[2] / 5000.0, 0.09, 0.133);
    }

    [Theory]
    [InlineData(0.75f, 2)] // 0.5 + 0.3 = 0.8 reaches 0.75 after two tokens
    [InlineData(0.85f, 3)] // needs 0.9
    [InlineData(0.95f, 4)] // needs 0.96
    [InlineData(0.3f, 1)]  // the first token alone already covers it
    public void Top_p_keeps_the_shortest_prefix_reaching_p(float topP, int kept)
    {
        int[] counts = Histogram(new SamplingOptions { Seed = 6, TopK = 0, TopP = topP, MinP = 0, Temperature = 1 }, LogOfFive);
        for (int token = 0; token < 5; token++)
        {
            Assert.True(token < kept ? counts[token] > 0 : counts[token] == 0,
                $"top-p {topP}: token {token} drawn {counts[token]} times");
        }
    }

    [Fact]
    public void Top_k_keeps_the_k_most_likely_tokens_lowest_id_first_on_ties()
    {
        int[] counts = Histogram(new SamplingOptions { Seed = 8, TopK = 2, TopP = 1, MinP = 0, Temperature = 1 },
            [0.5f, 2f, 1f, 2f, 1.5f]);
        Assert.Equal([0, 1, 0, 1, 0], counts.Select(c => c > 0 ? 1 : 0).ToArray());
        Assert.InRange(counts[1] / 5000.0, 0.45, 0.55);
    }

    [Fact]
    public void Default_chain_applies_temperature_after_the_filters()
    {
        // With temperature 4 the flattened distribution would pass min-p 0.3 for every token; llama.cpp filters
        // the untempered logits first, so tokens below 0.3 * p_max (tokens 2..4) never appear.
        int[] counts = Histogram(new SamplingOptions { Seed = 9, TopK = 40, TopP = 1, MinP = 0.3f, Temperature = 4 }, LogOfFive);
        Assert.Equal([1, 1, 0, 0, 0], counts.Select(c => c > 0 ? 1 : 0).ToArray());
    }

    [Fact]
    public void Sampling_leaves_the_inputs_alone_and_allocates_nothing_per_token()
    {
        var random = new Random(1);
        float[] logits = Enumerable.Range(0, 32000).Select(_ => (float)(random.NextDouble() * 10)).ToArray();
        float[] copy = (float[])logits.Clone();
        int[] recent = [5, 6, 7, 5];
        // Full sort for top-p without top-k, and the default chain's heap-based top-k.
        var sorting = new Sampler(new SamplingOptions { Seed = 3, TopK = 0, TopP = 0.9f, RepeatPenalty = 1.2f });
        var defaults = new Sampler(new SamplingOptions { Seed = 3, RepeatPenalty = 1.2f });
        sorting.Sample(logits, recent);
        defaults.Sample(logits, recent);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5; i++)
        {
            sorting.Sample(logits, recent);
            defaults.Sample(logits, recent);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(copy, logits);
        Assert.Equal([5, 6, 7, 5], recent);
    }

    [Fact]
    public void Invalid_settings_and_inputs_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(new SamplingOptions { TopP = 1.5f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(new SamplingOptions { MinP = -0.1f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(new SamplingOptions { RepeatPenalty = 0f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(new SamplingOptions { Temperature = float.NaN }));
        var sampler = new Sampler(new SamplingOptions { RepeatPenalty = 1.1f });
        Assert.Throws<ArgumentException>(() => sampler.Sample([], []));
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample([1f, 2f], [2]));
        // The failed call left no token marked: token 0 is penalized normally afterwards.
        Assert.Equal(1, new Sampler(new SamplingOptions { Temperature = 0, RepeatPenalty = 1.1f }).Sample([2f, 1.9f], [0]));
    }

    [Fact]
    public void Unseeded_samplers_pick_a_seed_and_report_it()
    {
        var first = new Sampler(new SamplingOptions());
        var replay = new Sampler(new SamplingOptions { Seed = unchecked((int)first.Seed) });
        float[] logits = [1f, 1.2f, 0.8f, 1.1f];
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal(replay.Sample(logits, []), first.Sample(logits, []));
        }
    }

    private static int[] Histogram(SamplingOptions options, float[] logits)
    {
        var sampler = new Sampler(options);
        var counts = new int[logits.Length];
        for (int i = 0; i < 5000; i++)
        {
            counts[sampler.Sample(logits, [])]++;
        }
        return counts;
    }

    private static float[] Logs(params double[] probabilities) =>
        probabilities.Select(p => (float)Math.Log(p)).ToArray();

    private static double[] Softmax(double[] values)
    {
        double max = values.Max();
        double[] e = values.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }
}
