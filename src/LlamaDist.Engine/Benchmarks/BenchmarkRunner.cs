using System.Diagnostics;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Generation;

namespace LlamaDist.Engine.Benchmarks;

/// <summary>
/// llama-bench's two tests on a loaded model, timed around the forward pass only (no tokenizer, no sampler):
/// pp&lt;N&gt; evaluates N tokens from an empty cache in batches; tg&lt;N&gt; decodes N tokens one at a time from an
/// empty cache. Tokens are pseudo-random ids (fixed seed) as llama-bench's are; speed does not depend on them.
/// Each test runs once to warm up, then Repetitions times; t/s = tokens / seconds per run. Every run starts
/// from a fresh sequence (opened outside the timed region), so a cluster's runs include the network exactly as
/// a prompt's do, and only what the last stage needs comes back (the argmax).
/// </summary>
internal sealed class BenchmarkRunner
{
    private readonly IGenerationModel model;
    private readonly bool sampleResidentMemory;

    /// <param name="sampleResidentMemory">Whether to sample this process's resident set during generation tests
    /// (meaningful when the whole model runs in this process).</param>
    public BenchmarkRunner(IGenerationModel model, bool sampleResidentMemory = false)
    {
        this.model = model;
        this.sampleResidentMemory = sampleResidentMemory;
    }

    public IReadOnlyList<BenchmarkRow> Run(BenchmarkRequest request, IProgress<double>? progress, CancellationToken cancellationToken)
    {
        Validate(request);
        var config = model.Config;
        var tests = new List<(string Name, int Prompt, int Generation)>();
        if (request.PromptTokens > 0) tests.Add(($"pp{request.PromptTokens}", request.PromptTokens, 0));
        if (request.GenerationTokens > 0) tests.Add(($"tg{request.GenerationTokens}", 0, request.GenerationTokens));

        var contextSize = Math.Max(request.PromptTokens, request.GenerationTokens);
        var batchSize = Math.Clamp(request.BatchSize, 1, contextSize);
        var tokens = RandomTokens(contextSize, config.VocabularySize);

        var rows = new List<BenchmarkRow>();
        var runsDone = 0;
        var firstRun = request.WarmUp ? -1 : 0;
        var runsTotal = tests.Count * (request.Repetitions - firstRun);
        foreach (var test in tests)
        {
            var samples = new double[request.Repetitions];
            var milliseconds = new double[request.Repetitions];
            long? peakResident = null;
            for (var run = firstRun; run < request.Repetitions; run++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var session = model.Open(contextSize, batchSize);
                using var sampler = sampleResidentMemory && test.Generation > 0 ? new ResidentMemorySampler() : null;
                var clock = Stopwatch.StartNew();
                if (test.Prompt > 0) EvaluatePrompt(session, tokens.AsSpan(0, test.Prompt), batchSize, cancellationToken);
                else Generate(session, tokens.AsSpan(0, test.Generation), cancellationToken);
                clock.Stop();
                if (sampler is not null) peakResident = Math.Max(peakResident ?? 0, sampler.PeakBytes);
                if (run >= 0)
                {
                    milliseconds[run] = clock.Elapsed.TotalMilliseconds;
                    samples[run] = (test.Prompt + test.Generation) * 1000.0 / milliseconds[run];
                }
                progress?.Report(++runsDone / (double)runsTotal);
            }

            rows.Add(new BenchmarkRow
            {
                Test = test.Name,
                PromptTokens = test.Prompt,
                GenerationTokens = test.Generation,
                Threads = model.Threads,
                AverageTokensPerSecond = samples.Average(),
                StandardDeviationTokensPerSecond = BenchmarkStatistics.StandardDeviation(samples),
                AverageMs = milliseconds.Average(),
                Samples = samples,
                PeakResidentBytes = peakResident,
            });
        }
        return rows;
    }

    private static void EvaluatePrompt(IGenerationSequence session, ReadOnlySpan<int> tokens, int batchSize, CancellationToken cancellationToken)
    {
        for (var start = 0; start < tokens.Length; start += batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = Math.Min(batchSize, tokens.Length - start);
            session.EvaluateGreedy(tokens.Slice(start, count));
        }
    }

    private static void Generate(IGenerationSequence session, ReadOnlySpan<int> tokens, CancellationToken cancellationToken)
    {
        for (var i = 0; i < tokens.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            session.EvaluateGreedy(tokens.Slice(i, 1));
        }
    }

    private static int[] RandomTokens(int count, int vocabularySize)
    {
        // SplitMix64 with a fixed seed: the same ids on every run and machine.
        var tokens = new int[count];
        ulong state = 0x9E3779B97F4A7C15;
        for (var i = 0; i < count; i++)
        {
            var z = state += 0x9E3779B97F4A7C15;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
            tokens[i] = (int)((z ^ (z >> 31)) % (ulong)vocabularySize);
        }
        return tokens;
    }

    private static void Validate(BenchmarkRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.PromptTokens < 0 || request.GenerationTokens < 0 || request.PromptTokens + request.GenerationTokens == 0)
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, "PromptTokens and GenerationTokens must be 0 or more, and not both 0.", "Tests");
        if (request.Repetitions < 1)
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Repetitions must be at least 1, not {request.Repetitions}.", nameof(request.Repetitions));
        if (request.BatchSize < 1)
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"BatchSize must be at least 1, not {request.BatchSize}.", nameof(request.BatchSize));
    }
}
