using System.Diagnostics;
using LlamaDist.Core.Model;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Perplexity;

/// <summary>
/// Perplexity the way llama-perplexity measures it, so figures compare one to one: the text is tokenized once
/// (with BOS), cut into chunks of contextSize tokens, each chunk evaluated from an empty cache with its first token
/// replaced by BOS, and only the second half scored: positions first = ctx/2 .. ctx-2 each predict the next token.
/// </summary>
internal sealed class PerplexityMeter
{
    private readonly LocalModel model;

    public PerplexityMeter(LocalModel model) => this.model = model;

    public PerplexityResult Measure(string text, int contextSize, IProgress<double>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (contextSize < 8)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"ContextSize must be at least 8, not {contextSize}.", nameof(contextSize));
        }

        var total = Stopwatch.StartNew();
        var tokens = model.Tokenizer.Encode(text, addSpecial: true);
        var chunks = tokens.Length / contextSize;
        if (chunks == 0)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument,
                $"The text has {tokens.Length} tokens; perplexity with a context of {contextSize} needs at least {contextSize}.", nameof(text));
        }

        var config = model.Config;
        var vocabulary = config.VocabularySize;
        var first = contextSize / 2;
        var logits = new float[(long)contextSize * vocabulary is var size && size <= Array.MaxLength ? (int)size
            : throw new LlamaDistException(LlamaErrorKind.InvalidArgument, "ContextSize x vocabulary is too large for one chunk.", nameof(contextSize))];
        var chunkTokens = new int[contextSize];
        using var session = model.Forward.CreateSession(contextSize, contextSize);

        double negativeLogLikelihood = 0, negativeLogLikelihoodSquared = 0;
        var scored = 0;
        var evalClock = new Stopwatch();
        for (var chunk = 0; chunk < chunks; chunk++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Array.Copy(tokens, chunk * contextSize, chunkTokens, 0, contextSize);
            if (model.Tokenizer.AddBos)
            {
                chunkTokens[0] = model.Tokenizer.BosId;
            }

            session.Reset();
            evalClock.Start();
            model.Forward.EvaluateTokens(session, chunkTokens, logits, logitsForAllTokens: true);
            evalClock.Stop();

            for (var position = first; position < contextSize - 1; position++)
            {
                var row = logits.AsSpan(position * vocabulary, vocabulary);
                var loss = -LogSoftmaxAt(row, chunkTokens[position + 1]);
                negativeLogLikelihood += loss;
                negativeLogLikelihoodSquared += loss * loss;
                scored++;
            }
            progress?.Report((chunk + 1) / (double)chunks);
        }

        // Mean and standard error of the per-token loss, propagated to the perplexity (as llama-perplexity prints).
        var mean = negativeLogLikelihood / scored;
        var variance = negativeLogLikelihoodSquared / scored - mean * mean;
        var perplexity = Math.Exp(mean);
        var uncertainty = variance > 0 && scored > 1 ? Math.Sqrt(variance / (scored - 1)) * perplexity : 0;

        return new PerplexityResult
        {
            Perplexity = perplexity,
            Uncertainty = uncertainty,
            ScoredTokens = scored,
            Chunks = chunks,
            ContextSize = contextSize,
            TextTokens = tokens.Length,
            Threads = model.Threads,
            LoadMs = model.LoadMs,
            EvalMs = evalClock.Elapsed.TotalMilliseconds,
            TotalMs = model.LoadMs + total.Elapsed.TotalMilliseconds,
        };
    }

    /// <summary>log softmax(row)[target], in double for the sum like llama-perplexity.</summary>
    private static double LogSoftmaxAt(ReadOnlySpan<float> row, int target)
    {
        var max = float.NegativeInfinity;
        foreach (var value in row) max = Math.Max(max, value);
        double sum = 0;
        foreach (var value in row) sum += Math.Exp(value - max);
        return row[target] - max - Math.Log(sum);
    }
}
