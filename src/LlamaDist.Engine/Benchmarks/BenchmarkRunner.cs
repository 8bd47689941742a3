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
                if (sampleResidentMemory && test.Generation > 0)
                {
                    CollectEarlierRuns();
                }
                using var sampler = sampleResidentMemory && test.Generation > 0 ? new ResidentMemorySampler() : null;
                var elapsed = Measure(test.Prompt, test.Generation, request.Concurrency, contextSize, batchSize, tokens, cancellationToken);
                if (sampler is not null) peakResident = Math.Max(peakResident ?? 0, sampler.PeakBytes);
                if (run >= 0)
                {
                    milliseconds[run] = elapsed;
                    samples[run] = (long)request.Concurrency * (test.Prompt + test.Generation) * 1000.0 / milliseconds[run];
                }
                progress?.Report(++runsDone / (double)runsTotal);
            }

            rows.Add(new BenchmarkRow
            {
                Test = test.Name,
                PromptTokens = test.Prompt,
                GenerationTokens = test.Generation,
                Threads = model.Threads,
                Concurrency = request.Concurrency,
                AverageTokensPerSecond = samples.Average(),
                StandardDeviationTokensPerSecond = BenchmarkStatistics.StandardDeviation(samples),
                AverageMs = milliseconds.Average(),
                Samples = samples,
                PeakResidentBytes = peakResident,
            });
        }
        return rows;
    }

    /// <summary>
    /// Before a sampled generation run, outside the clock: the sessions of the runs and tests before it are garbage
    /// by then (each run opens and disposes its own), but a managed heap gives their memory (KV caches, a prompt's
    /// activation buffers) back to the system only at a collection. llama-bench frees each test's context before the
    /// next; collecting here does the same, so the resident set sampled is what decoding holds, not what earlier
    /// runs left for the collector.
    /// </summary>
    private static void CollectEarlierRuns() =>
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    /// <summary>
    /// One repetition: <paramref name="concurrency"/> fresh sequences (opened before the clock starts), each on a
    /// thread of its own evaluating the same test at the same time; milliseconds until the last one finished.
    /// </summary>
    private double Measure(int prompt, int generation, int concurrency, int contextSize, int batchSize, int[] tokens,
        CancellationToken cancellationToken)
    {
        var sessions = new List<IGenerationSequence>(concurrency);
        try
        {
            for (int i = 0; i < concurrency; i++)
            {
                sessions.Add(model.Open(contextSize, batchSize));
            }
            void Run(IGenerationSequence session)
            {
                if (prompt > 0) EvaluatePrompt(session, tokens.AsSpan(0, prompt), batchSize, cancellationToken);
                else Generate(session, tokens.AsSpan(0, generation), cancellationToken);
            }
            var clock = Stopwatch.StartNew();
            if (concurrency == 1)
            {
                Run(sessions[0]);
            }
            else
            {
                // Dedicated threads: the sequences block on their steps, which must not starve the thread pool
                // that completes a cluster's network calls.
                // Each run stops by itself at its next step once cancelled, so all have ended before the sessions go.
                var runs = sessions.Select(session => Task.Factory.StartNew(() => Run(session), CancellationToken.None,
                    TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
                try
                {
                    Task.WaitAll(runs);
                }
                catch (AggregateException exception) when (exception.InnerExceptions.Count > 0)
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(exception.InnerExceptions[0]);
                }
            }
            return clock.Elapsed.TotalMilliseconds;
        }
        finally
        {
            sessions.ForEach(session => session.Dispose());
        }
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

    internal static int[] RandomTokens(int count, int vocabularySize)
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
        if (request.Concurrency is < 1 or > BenchmarkRequest.MaxConcurrency)
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Concurrency must be 1 to {BenchmarkRequest.MaxConcurrency}, not {request.Concurrency}.", nameof(request.Concurrency));
        if (request.BatchSize < 1)
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"BatchSize must be at least 1, not {request.BatchSize}.", nameof(request.BatchSize));
    }
}
