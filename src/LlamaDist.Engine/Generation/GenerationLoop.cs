using System.Diagnostics;
using LlamaDist.Core.Model;
using LlamaDist.Core.Sampling;
using LlamaDist.Core.Tokenization;
using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Generation;

/// <summary>
/// Prompt in, tokens out: batched prompt evaluation, then sample / decode one token at a time until an
/// end-of-generation token, a stop string, MaxTokens or a full cache. Tokenization and sampling live here, not in the model.
/// </summary>
internal sealed class GenerationLoop
{
    private readonly IGenerationModel model;

    public GenerationLoop(IGenerationModel model) => this.model = model;

    public GenerationResult Run(GenerationRequest request, Action<string>? onText, CancellationToken cancellationToken)
    {
        Validate(request);
        var total = Stopwatch.StartNew();
        var config = model.Config;
        var tokenizer = model.Tokenizer;
        var contextSize = request.ContextSize > 0 ? request.ContextSize : Math.Min(config.ContextLength > 0 ? config.ContextLength : 4096, 4096);

        var promptTokens = request.PromptTokenIds?.ToArray() ?? tokenizer.Encode(request.Prompt, addSpecial: true);
        foreach (var id in promptTokens)
        {
            if ((uint)id >= (uint)config.VocabularySize)
                throw new LlamaDistException(LlamaErrorKind.InvalidArgument,
                    $"Prompt token id {id} is outside the vocabulary (0 .. {config.VocabularySize - 1}).", nameof(request.PromptTokenIds));
        }
        if (promptTokens.Length == 0)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, "The prompt produced no tokens.", nameof(request.Prompt));
        }
        if (promptTokens.Length >= contextSize)
        {
            throw new LlamaDistException(LlamaErrorKind.ContextOverflow,
                $"The prompt has {promptTokens.Length} tokens but the context holds {contextSize}; raise -ContextSize or shorten the prompt.",
                nameof(request.ContextSize));
        }

        var seed = request.Seed ?? Random.Shared.Next();
        var sampler = new Sampler(new SamplingOptions
        {
            Temperature = request.Temperature,
            TopK = request.TopK,
            TopP = request.TopP,
            MinP = request.MinP,
            RepeatPenalty = request.RepeatPenalty,
            RepeatLastN = request.RepeatLastN,
            Seed = seed,
        });

        // Pure greedy decoding needs only the argmax: a cluster then returns 4 bytes per token instead of logits.
        // (With RepeatPenalty 1 the sampler's greedy pick is exactly that argmax.)
        bool argmaxOnly = request.Temperature <= 0 && request.RepeatPenalty == 1f;
        int greedyToken = -1;
        var batchSize = Math.Clamp(request.BatchSize, 1, contextSize);
        using var session = model.Open(contextSize, batchSize);
        var logits = new float[config.VocabularySize];
        var history = new List<int>(promptTokens.Length + request.MaxTokens);
        history.AddRange(promptTokens);
        // A top-k sampler on a model that selects candidates where its logits are (the GPU) gets only those.
        var candidates = argmaxOnly ? null : new SamplingCandidates(session, sampler, config.VocabularySize);
        ReadOnlySpan<int> RecentTokens() =>
            System.Runtime.InteropServices.CollectionsMarshal.AsSpan(history)[Math.Max(0, history.Count - Math.Max(request.RepeatLastN, 0))..];
        var generated = new List<int>(request.MaxTokens);
        var decoder = new Utf8StreamDecoder();
        var stopMatcher = new StopStringMatcher(request.Stop);
        var text = new System.Text.StringBuilder();
        void Emit(string piece)
        {
            var shown = stopMatcher.Push(piece);
            if (shown.Length > 0)
            {
                text.Append(shown);
                onText?.Invoke(shown);
            }
        }

        // Prompt evaluation: batches of up to batchSize tokens; only the last position's logits are kept.
        var promptClock = Stopwatch.StartNew();
        for (var start = 0; start < promptTokens.Length; start += batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = Math.Min(batchSize, promptTokens.Length - start);
            var batch = promptTokens.AsSpan(start, count);
            if (argmaxOnly || start + count < promptTokens.Length)
            {
                greedyToken = session.EvaluateGreedy(batch);
            }
            else if (!candidates!.TryEvaluate(batch, RecentTokens()))
            {
                session.Evaluate(batch, logits);
            }
            if (promptTokens.Length > batchSize)
            {
                request.PromptProgress?.Report((start + count) / (double)promptTokens.Length);
            }
        }
        var promptEvalMs = promptClock.Elapsed.TotalMilliseconds;

        var sampleClock = new Stopwatch();
        var evalClock = new Stopwatch();
        var evalRuns = 0;
        var stopReason = StopReason.MaxTokens;
        Span<int> single = stackalloc int[1];
        while (generated.Count < request.MaxTokens)
        {
            cancellationToken.ThrowIfCancellationRequested();
            sampleClock.Start();
            var token = argmaxOnly ? greedyToken
                : candidates!.HasSelection ? candidates.Sample(RecentTokens())
                : sampler.Sample(logits, RecentTokens());
            sampleClock.Stop();

            if (tokenizer.IsEndOfGeneration(token))
            {
                stopReason = StopReason.EndOfSequence;
                break;
            }

            generated.Add(token);
            history.Add(token);
            var piece = decoder.Push(tokenizer.TokenToBytes(token));
            if (piece.Length > 0)
            {
                Emit(piece);
                if (stopMatcher.Matched is not null)
                {
                    stopReason = StopReason.StopString;
                    break;
                }
            }

            if (generated.Count == request.MaxTokens)
            {
                break;
            }
            if (session.Position >= contextSize)
            {
                stopReason = StopReason.ContextFull;
                break;
            }

            // One decode per generated token after the first: an eval run in llama.cpp's counting.
            evalClock.Start();
            single[0] = token;
            if (argmaxOnly)
            {
                greedyToken = session.EvaluateGreedy(single);
            }
            else if (!candidates!.TryEvaluate(single, RecentTokens()))
            {
                session.Evaluate(single, logits);
            }
            evalClock.Stop();
            evalRuns++;
        }

        // Bytes of an unfinished character, then text held back as a possible stop string that never completed.
        if (stopMatcher.Matched is null)
        {
            var tail = decoder.Flush();
            if (tail.Length > 0)
            {
                Emit(tail);
                if (stopMatcher.Matched is not null)
                {
                    stopReason = StopReason.StopString;
                }
            }
            var held = stopMatcher.Flush();
            if (held.Length > 0)
            {
                text.Append(held);
                onText?.Invoke(held);
            }
        }

        return new GenerationResult
        {
            Text = text.ToString(),
            PromptTokenIds = promptTokens,
            TokenIds = generated.ToArray(),
            StopReason = stopReason,
            StopString = stopMatcher.Matched,
            Seed = seed,
            Threads = model.Threads,
            ContextSize = contextSize,
            LoadMs = model.LoadMs,
            PromptEvalMs = promptEvalMs,
            EvalRuns = evalRuns,
            EvalMs = evalClock.Elapsed.TotalMilliseconds,
            SampleMs = sampleClock.Elapsed.TotalMilliseconds,
            TotalMs = model.LoadMs + total.Elapsed.TotalMilliseconds,
            Stages = session.Stages,
            Failovers = session is IFailoverSource source ? source.Failovers : [],
        };
    }

    private static void Validate(GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Prompt is null)
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, "A prompt is required.", nameof(request.Prompt));
        if (request.MaxTokens < 0)
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"MaxTokens must be 0 or more, not {request.MaxTokens}.", nameof(request.MaxTokens));
        if (request.ContextSize < 0)
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"ContextSize must be 0 (model default) or more, not {request.ContextSize}.", nameof(request.ContextSize));
        if (request.Temperature < 0 || request.TopP is < 0 or > 1 || request.MinP is < 0 or > 1 || request.RepeatPenalty <= 0)
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument,
                "Sampling settings out of range: Temperature >= 0, TopP and MinP in [0, 1], RepeatPenalty > 0.", "Sampling");
        if (request.Stop is null || request.Stop.Count > GenerationRequest.MaxStopStrings
            || request.Stop.Any(stop => stop is null || stop.Length > GenerationRequest.MaxStopStringLength))
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument,
                $"Stop takes at most {GenerationRequest.MaxStopStrings} strings of at most {GenerationRequest.MaxStopStringLength} characters each.",
                nameof(request.Stop));
    }
}
