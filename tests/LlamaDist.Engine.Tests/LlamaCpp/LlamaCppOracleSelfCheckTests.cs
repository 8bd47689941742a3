using LlamaDist.Core.Gguf;

namespace LlamaDist.Engine.Tests.LlamaCpp;

/// <summary>
/// Checks of the llama.cpp oracle (<see cref="LlamaCppOracle"/>) by means independent of llama.cpp itself: token ids
/// against the GGUF's own vocabulary strings, perplexity recomputed by hand from the raw all-position logits, and
/// incremental (KV-cached) greedy decoding against one batched evaluation of the whole continuation.
/// Model: the embedded 1.7 MB random-weight llama (32000-token SentencePiece vocabulary).
/// </summary>
[Collection("llama.cpp")] // llama.cpp's backend and logging are process-wide; run with the other oracle tests, serially
public sealed class LlamaCppOracleSelfCheckTests
{
    private const int Threads = 2;

    private static readonly string ModelPath =
        Path.Combine(AppContext.BaseDirectory, "Models", "llama-2-tiny-random.gguf");

    [Fact]
    public void TokenIdsSpellTheTextInTheGgufVocabulary()
    {
        using var oracle = LlamaCppOracle.Load(ModelPath, contextSize: 32, threads: Threads);
        using var gguf = GgufFile.Open(ModelPath);
        var vocabulary = gguf.GetArray<string>("tokenizer.ggml.tokens");

        var ids = oracle.Tokenize("Once upon a time", addBos: true);

        // Observed from llama.cpp (LLamaSharp 0.30.0): BOS, then one piece per word.
        Assert.Equal([1, 9038, 2501, 263, 931], ids);
        // The same ids read from the file's vocabulary: "▁" (U+2581) marks the SentencePiece word start.
        Assert.Equal(vocabulary.Length, oracle.VocabularySize);
        Assert.Equal(gguf.GetValue<int>("tokenizer.ggml.bos_token_id"), ids[0]);
        Assert.Equal("<s>", vocabulary[ids[0]]);
        Assert.Equal(["\u2581Once", "\u2581upon", "\u2581a", "\u2581time"], ids[1..].Select(id => vocabulary[id]));
        // The pieces spell the text back with llama's leading space prefix.
        Assert.Equal(" Once upon a time", string.Concat(ids[1..].Select(id => vocabulary[id])).Replace('\u2581', ' '));
    }

    [Fact]
    public void PerplexityEqualsAHandComputationFromAllLogits()
    {
        const int chunkSize = 32;
        using var oracle = LlamaCppOracle.Load(ModelPath, contextSize: chunkSize, threads: Threads);
        var tokens = oracle.Tokenize(
            "The llama is a domesticated South American camelid, widely used as a meat and pack animal by Andean " +
            "cultures since the pre-Columbian era. Llamas are social animals and live with others as a herd. Their " +
            "wool is soft and contains only a small amount of lanolin.", addBos: true);
        var chunks = tokens.Length / chunkSize;
        Assert.True(chunks >= 2, $"the text gives {tokens.Length} tokens; two chunks of {chunkSize} are needed");

        var result = oracle.Perplexity(tokens, chunkSize);

        // Independent recomputation: each chunk starts with BOS in place of its first token, and positions
        // chunkSize/2 .. chunkSize-2 predict the next token of the original text; log-softmax in double throughout.
        var losses = new List<double>();
        for (var c = 0; c < chunks; c++)
        {
            var chunk = tokens[(c * chunkSize)..((c + 1) * chunkSize)];
            chunk[0] = oracle.BosId;
            var logits = oracle.EvaluateAllLogits(chunk);
            for (var j = chunkSize / 2; j < chunkSize - 1; j++)
            {
                var row = logits[j];
                var max = row.Max();
                var logSumExp = max + Math.Log(row.Sum(value => Math.Exp(value - max)));
                losses.Add(logSumExp - row[tokens[c * chunkSize + j + 1]]);
            }
        }

        var mean = losses.Average();
        var sampleVariance = losses.Sum(loss => (loss - mean) * (loss - mean)) / (losses.Count - 1);
        var expectedPerplexity = Math.Exp(mean);
        var expectedUncertainty = expectedPerplexity * Math.Sqrt(sampleVariance / losses.Count);

        Assert.Equal(chunks, result.Chunks);
        Assert.Equal(chunks * (chunkSize - 1 - chunkSize / 2), result.ScoredTokens);
        Assert.Equal(losses.Count, result.ScoredTokens);
        Assert.InRange(result.Perplexity / expectedPerplexity, 1 - 1e-6, 1 + 1e-6);
        Assert.InRange(result.Uncertainty / expectedUncertainty, 1 - 1e-4, 1 + 1e-4);
        // Near-uniform predictions of a random model: perplexity close to the 32000-token vocabulary.
        Assert.InRange(result.Perplexity, 25000, 40000);
    }

    [Fact]
    public void GreedyDecodingMatchesTheArgMaxOfOneBatchedEvaluation()
    {
        const int count = 12;
        using var oracle = LlamaCppOracle.Load(ModelPath, contextSize: 64, threads: Threads);
        var prompt = oracle.Tokenize("Once upon a time", addBos: true);

        var generated = oracle.GenerateGreedy(prompt, count);

        // Teacher forcing: the prompt plus all but the last generated token, evaluated in one batch; the row of
        // the position before each generated token must have that token as its first maximum.
        var rows = oracle.EvaluateAllLogits([.. prompt, .. generated[..^1]]);
        for (var i = 0; i < count; i++)
        {
            var row = rows[prompt.Length - 1 + i];
            Assert.True(Array.IndexOf(row, row.Max()) == generated[i],
                $"step {i}: decoded {generated[i]}, batched argmax {Array.IndexOf(row, row.Max())}");
        }
    }
}
