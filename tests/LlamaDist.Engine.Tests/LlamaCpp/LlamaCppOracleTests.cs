namespace LlamaDist.Engine.Tests.LlamaCpp;

/// <summary>
/// The oracle itself, on the embedded 1.7 MB random-weight llama (32000-token SPM vocabulary): llama.cpp must load,
/// tokenize like our tokenizer, and give consistent logits before any agreement test can trust it.
/// </summary>
[Collection("llama.cpp")] // shares the serial collection of the agreement tests: llama.cpp state is process-wide
public sealed class LlamaCppOracleTests
{
    private const int Threads = 2;

    private static readonly string ModelPath =
        Path.Combine(AppContext.BaseDirectory, "Models", "llama-2-tiny-random.gguf");

    // ~300 tokens of ordinary English for the perplexity shape checks.
    private const string PerplexityText =
        "The quick brown fox jumps over the lazy dog while the farmer watches from the porch of his small house. " +
        "In the morning the village wakes slowly: bakers light their ovens, children walk to school, and the old " +
        "clock in the square strikes seven. Merchants open their shutters and arrange apples, pears and bread on " +
        "wooden tables. A cart rolls past, pulled by a tired horse, and the driver greets everyone by name. Later " +
        "the sun climbs above the hills, the fields turn gold, and the river carries the reflections of clouds " +
        "toward the sea. In the evening people gather by the fountain to talk about the weather, the harvest, the " +
        "price of wheat and the news from the city, where trains arrive every hour and nobody knows their " +
        "neighbours. When night falls the lamps are lit one by one, dogs bark at the moon, and the whole valley " +
        "falls asleep under a sky full of stars, waiting for another ordinary day to begin again tomorrow. " +
        "Far away, on the other side of the mountains, a young woman packs a small bag with a map, a loaf of bread " +
        "and a letter from her grandmother. She has never seen the sea, but she has read about it in books, and " +
        "tonight she decides that she will walk until she can hear the waves and taste the salt in the wind.";

    [Fact]
    public void TokenizeMatchesTheLlamaVocabulary()
    {
        using var oracle = LlamaCppOracle.Load(ModelPath, contextSize: 64, threads: Threads);

        Assert.Equal(32000, oracle.VocabularySize);
        Assert.Equal(1, oracle.BosId);
        Assert.Equal([1, 9038, 2501, 263, 931], oracle.Tokenize("Once upon a time", addBos: true));
        Assert.Equal([9038, 2501, 263, 931], oracle.Tokenize("Once upon a time", addBos: false));
    }

    [Fact]
    public void LastLogitsAreFiniteAndVocabularySized()
    {
        using var oracle = LlamaCppOracle.Load(ModelPath, contextSize: 64, threads: Threads);

        var logits = oracle.EvaluateLastLogits(oracle.Tokenize("Once upon a time", addBos: true));

        Assert.Equal(32000, logits.Length);
        Assert.All(logits, value => Assert.True(float.IsFinite(value), $"non-finite logit {value}"));
        // Random weights still give a spread of values, not a constant (a zeroed buffer would pass IsFinite).
        Assert.True(logits.Max() - logits.Min() > 1e-3f, "logits are constant");
    }

    [Fact]
    public void AllLogitsLastRowEqualsLastLogitsAndRowsDiffer()
    {
        using var oracle = LlamaCppOracle.Load(ModelPath, contextSize: 64, threads: Threads);
        var tokens = oracle.Tokenize("Once upon a time there was a dragon", addBos: true);

        var all = oracle.EvaluateAllLogits(tokens);
        var last = oracle.EvaluateLastLogits(tokens);

        Assert.Equal(tokens.Length, all.Length);
        Assert.All(all, row => Assert.Equal(32000, row.Length));
        for (var v = 0; v < last.Length; v++)
        {
            Assert.True(Math.Abs(all[^1][v] - last[v]) <= 1e-4f,
                $"logit {v}: all-logits row {all[^1][v]} vs last-logits {last[v]}");
        }

        // Each row is its own copy: different positions see different contexts.
        Assert.NotEqual(all[0], all[^1]);
    }

    [Fact]
    public void EvaluationStartsAFreshSequenceEachTime()
    {
        using var oracle = LlamaCppOracle.Load(ModelPath, contextSize: 64, threads: Threads);
        var tokens = oracle.Tokenize("Once upon a time", addBos: true);

        var first = oracle.EvaluateLastLogits(tokens);
        oracle.EvaluateLastLogits(oracle.Tokenize("Something else entirely, longer than before", addBos: true));
        var again = oracle.EvaluateLastLogits(tokens);

        Assert.Equal(first, again);
    }

    [Fact]
    public void GenerateGreedyIsRepeatableAndFollowsTheArgMax()
    {
        using var oracle = LlamaCppOracle.Load(ModelPath, contextSize: 64, threads: Threads);
        var prompt = oracle.Tokenize("Once upon a time", addBos: true);

        var first = oracle.GenerateGreedy(prompt, 8);
        var second = oracle.GenerateGreedy(prompt, 8);

        Assert.Equal(8, first.Length);
        Assert.Equal(first, second);
        Assert.All(first, token => Assert.InRange(token, 0, 31999));

        // The first generated token is the argmax of the prompt's last logits, and the second the argmax after it.
        var promptLogits = oracle.EvaluateLastLogits(prompt);
        Assert.Equal(IndexOfMax(promptLogits), first[0]);
        var extended = oracle.EvaluateLastLogits([.. prompt, first[0]]);
        Assert.Equal(IndexOfMax(extended), first[1]);
    }

    [Fact]
    public void PerplexityScoresTheSecondHalfOfEachChunk()
    {
        using var oracle = LlamaCppOracle.Load(ModelPath, contextSize: 64, threads: Threads);
        var tokens = oracle.Tokenize(PerplexityText, addBos: true);
        Assert.InRange(tokens.Length, 256, 400); // at least 4 chunks of 64

        var result = oracle.Perplexity(tokens, contextSize: 64);

        Assert.Equal(tokens.Length / 64, result.Chunks);
        Assert.Equal(result.Chunks * 31, result.ScoredTokens);
        Assert.True(double.IsFinite(result.Perplexity) && result.Perplexity > 1,
            $"perplexity {result.Perplexity}");
        Assert.True(double.IsFinite(result.Uncertainty) && result.Uncertainty > 0,
            $"uncertainty {result.Uncertainty}");
        // Random weights give logits within about +-0.25, so predictions are nearly uniform over 32000 tokens and
        // the perplexity sits close to the vocabulary size (observed ~32000); a wrong sign, target index or
        // normalisation would move it far away.
        Assert.InRange(result.Perplexity, 25000, 40000);

        // Deterministic: the same text scores the same.
        Assert.Equal(result, oracle.Perplexity(tokens, contextSize: 64));
    }

    [Fact]
    public void RejectsSequencesThatDoNotFitTheContext()
    {
        using var oracle = LlamaCppOracle.Load(ModelPath, contextSize: 16, threads: Threads);

        Assert.Throws<ArgumentException>(() => oracle.EvaluateLastLogits(new int[17]));
        Assert.Throws<ArgumentException>(() => oracle.EvaluateLastLogits([]));
        Assert.Throws<ArgumentOutOfRangeException>(() => oracle.EvaluateLastLogits([1, 32000]));
        Assert.Throws<ArgumentException>(() => oracle.Perplexity(new int[10], contextSize: 16));
    }

    [Fact]
    public void LoadOfAMissingFileThrowsFileNotFound()
    {
        var missing = Path.Combine(AppContext.BaseDirectory, "Models", "no-such-model.gguf");

        var error = Assert.Throws<FileNotFoundException>(() => LlamaCppOracle.Load(missing));

        Assert.Contains("no-such-model.gguf", error.Message);
    }

    private static int IndexOfMax(float[] values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }
}
