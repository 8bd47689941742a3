using System.Runtime.InteropServices;
using Google.Protobuf;
using LlamaDist.Core.Numerics;
using LlamaDist.Distributed.Activations;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Worker.State;

/// <summary>
/// Runs one Forward step of a session on this worker's range, in fair micro-batches, and builds what goes on:
/// the hidden state for the next stage, or, on the last stage, the greedy token or the logits the step asked for.
/// Every check on the request happens before any state changes; a malformed step fails its stream (and so its
/// session), nothing else.
/// </summary>
internal static class StepEvaluator
{
    /// <summary>The step's output and this stage's timing, ready to become a request or a reply.</summary>
    /// <summary>Most stage timings a step may carry in: one per stage before this one.</summary>
    private const int MaxStages = 256;

    public sealed record Output(HiddenState? Hidden, Logits? Logits, int? GreedyToken, StageTiming Timing);

    /// <summary>
    /// Evaluates the step in micro-batches of at most --max-step-tokens tokens, entering the compute gate once
    /// for each, so steps of other sessions run in between (see <see cref="FairComputeGate"/>). The result is
    /// the same, bit for bit, as one pass over the whole step: every token's computation reads only the KV cache
    /// of the positions before it, which the earlier micro-batches have written, and each micro-batch continues
    /// at the session's position.
    /// </summary>
    public static async Task<Output> EvaluateAsync(WorkerRuntime runtime, HostedSession session, ForwardRequest request,
        CancellationToken cancellationToken)
    {
        var config = session.Range.Config;
        int n = (int)request.TokenCount;
        if (n < 1 || n > session.MaxBatch)
        {
            throw WorkerErrors.Invalid($"token_count {request.TokenCount} is outside 1..{session.MaxBatch} (the session's max_batch_tokens).");
        }
        WorkerInput.Encoding(request.ReplyEncoding, "reply_encoding");
        if (request.CacheOnly && (request.WantLogits || request.WantGreedyToken))
        {
            throw WorkerErrors.Invalid("cache_only excludes want_logits and want_greedy_token: a cache-only step has no output.");
        }
        WorkerInput.AtMost((ulong)request.Stages.Count, MaxStages, "stages");  // each stage appends one; a ring is never this long

        if (!session.TryBeginStep())
        {
            throw WorkerErrors.Precondition($"Session {session.Id} is already evaluating a step; a session takes one step at a time, on one stream.");
        }
        try
        {
            var tokens = Prepare(session, request, n);
            bool all = request.WantLogits && request.LogitsForAllTokens;
            int rows = all ? n : 1;
            if (session.Range.IncludesOutput && session.Logits.Length < rows * config.VocabularySize)
            {
                session.Logits = new float[rows * config.VocabularySize];
            }

            // Compute time only: the waits for the gate between micro-batches are other sessions' time.
            int step = Math.Max(1, runtime.Options.MaxStepTokens);
            var compute = TimeSpan.Zero;
            for (int done = 0; done < n; done += step)
            {
                int count = Math.Min(step, n - done);
                // Only the step's final micro-batch runs the output head; none of a cache-only step's does.
                bool output = done + count == n && !request.CacheOnly;
                compute += await EvaluateMicroBatchAsync(runtime, session, tokens, done, count, output, all, cancellationToken).ConfigureAwait(false);
            }

            var timing = Timing(compute, request);
            session.Touch();
            if (session.Range.IncludesOutput && request.CacheOnly)
            {
                return new Output(null, null, null, timing);
            }
            if (session.Range.IncludesOutput)
            {
                var logits = session.Logits.AsMemory(0, rows * config.VocabularySize);
                return request.WantGreedyToken && !request.WantLogits
                    ? new Output(null, null, VectorMath.ArgMax(logits.Span[^config.VocabularySize..]), timing)
                    : new Output(null, new Logits
                    {
                        VocabularySize = (uint)config.VocabularySize,
                        RowCount = (uint)rows,
                        Data = ByteString.CopyFrom(MemoryMarshal.AsBytes(logits.Span)),
                    }, null, timing);
            }
            var encoding = request.ReplyEncoding != ActivationEncoding.Unspecified ? request.ReplyEncoding
                : request.InputCase == ForwardRequest.InputOneofCase.Hidden ? request.Hidden.Encoding : ActivationEncoding.F16;
            int embd = config.EmbeddingLength;
            return new Output(ActivationCodec.ToMessage(session.HiddenOut.AsSpan(0, n * embd), n, embd, encoding), null, null, timing);
        }
        finally
        {
            session.EndStep();
        }
    }

    /// <summary>
    /// Every check on the step before any state changes: the session's position and room, and the input (token
    /// ids in the vocabulary, or a hidden state decoded into the session's input buffer). Returns the token ids
    /// of a first range, null for a later one.
    /// </summary>
    private static int[]? Prepare(HostedSession session, ForwardRequest request, int n)
    {
        var range = session.Range;
        var config = range.Config;
        int embd = config.EmbeddingLength;
        if (session.Cache.IsDisposed)
        {
            throw WorkerErrors.NotFound($"Session {session.Id} was closed.");
        }
        if (request.StartPosition != session.Cache.Position)
        {
            throw WorkerErrors.Precondition(
                $"Step {request.Sequence} starts at position {request.StartPosition} but session {session.Id} holds {session.Cache.Position} tokens.");
        }
        if (session.Cache.Position + n > session.Cache.ContextSize)
        {
            throw WorkerErrors.Create(Grpc.Core.StatusCode.OutOfRange, Distributed.Client.WorkerFailure.Rejected,
                $"Session {session.Id} holds {session.Cache.ContextSize} tokens; {session.Cache.Position} are used and {n} more do not fit.");
        }

        switch (request.InputCase)
        {
            case ForwardRequest.InputOneofCase.Tokens when range.IncludesEmbedding:
                if (request.Tokens.Ids.Count != n)
                {
                    throw WorkerErrors.Invalid($"The step carries {request.Tokens.Ids.Count} token ids for token_count {n}.");
                }
                var tokens = request.Tokens.Ids.ToArray();
                foreach (var id in tokens)
                {
                    if ((uint)id >= (uint)config.VocabularySize)
                    {
                        throw WorkerErrors.Invalid($"Token id {id} is outside the vocabulary (0..{config.VocabularySize - 1}).");
                    }
                }
                return tokens;
            case ForwardRequest.InputOneofCase.Hidden when !range.IncludesEmbedding:
                try
                {
                    if (request.Hidden.EmbeddingLength != embd)
                    {
                        throw new ActivationPayloadException($"The hidden state is {request.Hidden.EmbeddingLength} wide; this model's is {embd}.");
                    }
                    ActivationCodec.Decode(request.Hidden.Data.Span, request.Hidden.Encoding, n, embd, session.HiddenIn.AsSpan(0, n * embd));
                }
                catch (ActivationPayloadException exception)
                {
                    throw WorkerErrors.Invalid(exception.Message);
                }
                return null;
            default:
                throw WorkerErrors.Invalid(range.IncludesEmbedding
                    ? $"Layers {range.Layers} start the model: a step must carry token ids, not {request.InputCase}."
                    : $"Layers {range.Layers} continue the model: a step must carry a hidden state, not {request.InputCase}.");
        }
    }

    /// <summary>
    /// Tokens [done, done + count) of a step through the <see cref="StepBatcher"/>: in one pass with the
    /// micro-batches of other sessions on the same range that wait for the device at the same time. All-token
    /// logits and micro-batches longer than one batched pass run alone, as <see cref="EvaluateMicroBatch"/>.
    /// </summary>
    private static Task<TimeSpan> EvaluateMicroBatchAsync(WorkerRuntime runtime, HostedSession session, int[]? tokens, int done,
        int count, bool output, bool allLogits, CancellationToken cancellationToken)
    {
        var range = session.Range;
        void Alone() => EvaluateMicroBatch(session, tokens, done, count, output, allLogits);
        // Only the CPU engine's sessions batch with others; a device session's steps run alone, one at a time.
        if (allLogits || count > Core.Model.BatchedForward.MaxRows || session.Cache is not Core.Model.LlamaSession cpuSession)
        {
            return runtime.Batcher.EvaluateAsync(session, count, null, Alone, cancellationToken);
        }
        int embd = range.Config.EmbeddingLength;
        bool logits = range.IncludesOutput && output;
        var step = new Core.Model.BatchedStep
        {
            Session = cpuSession,
            Count = count,
            Tokens = tokens is null ? ReadOnlyMemory<int>.Empty : tokens.AsMemory(done, count),
            Hidden = tokens is null ? session.HiddenIn.AsMemory(done * embd, count * embd) : ReadOnlyMemory<float>.Empty,
            // Earlier micro-batches of a last stage stop at the hidden state, as one pass skips those rows' logits.
            Output = logits ? session.Logits.AsMemory(0, range.Config.VocabularySize) : session.HiddenOut.AsMemory(done * embd, count * embd),
            WantsLogits = logits,
        };
        return runtime.Batcher.EvaluateAsync(session, count, step, Alone, cancellationToken);
    }

    /// <summary>
    /// Tokens [done, done + count) of a step, on the compute gate. A last stage writes the logits rows asked for:
    /// each micro-batch its own rows for all-token logits; otherwise only the micro-batch that gives the step's
    /// <paramref name="output"/> runs the output head, and the others stop at the hidden state (as one pass would
    /// skip those rows too).
    /// </summary>
    private static void EvaluateMicroBatch(HostedSession session, int[]? tokens, int done, int count, bool output, bool allLogits)
    {
        var range = session.Range;
        var forward = range.Forward;
        int embd = range.Config.EmbeddingLength;
        int vocabulary = range.Config.VocabularySize;
        var hiddenIn = session.HiddenIn.AsSpan(done * embd, count * embd);
        var hiddenOut = session.HiddenOut.AsSpan(done * embd, count * embd);
        var chunk = tokens is null ? ReadOnlySpan<int>.Empty : tokens.AsSpan(done, count);
        if (range.IncludesOutput && (allLogits || output))
        {
            var logits = allLogits ? session.Logits.AsSpan(done * vocabulary, count * vocabulary) : session.Logits.AsSpan(0, vocabulary);
            if (tokens is not null)
            {
                forward.EvaluateTokens(session.Cache, chunk, logits, allLogits);
            }
            else
            {
                forward.EvaluateHiddenToLogits(session.Cache, hiddenIn, count, logits, allLogits);
            }
        }
        else if (tokens is not null)
        {
            forward.EvaluateTokensToHidden(session.Cache, chunk, hiddenOut);
        }
        else
        {
            forward.EvaluateHidden(session.Cache, hiddenIn, count, hiddenOut);
        }
    }

    private static StageTiming Timing(TimeSpan compute, ForwardRequest request) => new()
    {
        ComputeMicroseconds = (ulong)compute.TotalMicroseconds,
        BytesReceived = (ulong)request.CalculateSize(),
    };

    /// <summary>The step as the next stage receives it: same session, sequence and position, this output as input.</summary>
    public static ForwardRequest ToNextRequest(ForwardRequest request, Output output)
    {
        var next = new ForwardRequest
        {
            SessionId = request.SessionId,
            Sequence = request.Sequence,
            StartPosition = request.StartPosition,
            TokenCount = request.TokenCount,
            Hidden = output.Hidden,
            WantLogits = request.WantLogits,
            LogitsForAllTokens = request.LogitsForAllTokens,
            WantGreedyToken = request.WantGreedyToken,
            ReplyEncoding = request.ReplyEncoding,
            CacheOnly = request.CacheOnly,
        };
        next.Stages.AddRange(request.Stages);
        next.Stages.Add(output.Timing);
        return next;
    }

    /// <summary>The step's answer to the coordinator.</summary>
    public static ForwardReply ToReply(ForwardRequest request, Output output)
    {
        var reply = new ForwardReply
        {
            SessionId = request.SessionId,
            Sequence = request.Sequence,
            StartPosition = request.StartPosition,
            TokenCount = request.TokenCount,
            ComputeMicroseconds = output.Timing.ComputeMicroseconds,
        };
        if (output.GreedyToken is { } token)
        {
            reply.GreedyToken = token;
        }
        else if (output.Logits is not null)
        {
            reply.Logits = output.Logits;
        }
        else
        {
            reply.Hidden = output.Hidden;
        }
        reply.Stages.AddRange(request.Stages);
        reply.Stages.Add(output.Timing);
        return reply;
    }
}
