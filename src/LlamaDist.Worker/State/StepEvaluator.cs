using System.Diagnostics;
using System.Runtime.InteropServices;
using Google.Protobuf;
using LlamaDist.Core.Numerics;
using LlamaDist.Distributed.Activations;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Worker.State;

/// <summary>
/// Runs one Forward step of a session on this worker's range and builds what goes on: the hidden state for the
/// next stage, or, on the last stage, the greedy token or the logits the step asked for. Every check on the
/// request happens before any state changes; a malformed step fails its stream (and so its session), nothing else.
/// </summary>
internal static class StepEvaluator
{
    /// <summary>The step's output and this stage's timing, ready to become a request or a reply.</summary>
    /// <summary>Most stage timings a step may carry in: one per stage before this one.</summary>
    private const int MaxStages = 256;

    public sealed record Output(HiddenState? Hidden, Logits? Logits, int? GreedyToken, StageTiming Timing);

    public static Output Evaluate(WorkerRuntime runtime, HostedSession session, ForwardRequest request)
    {
        var range = session.Range;
        var config = range.Config;
        int n = (int)request.TokenCount;
        int embd = config.EmbeddingLength;
        if (n < 1 || n > session.MaxBatch)
        {
            throw WorkerErrors.Invalid($"token_count {request.TokenCount} is outside 1..{session.MaxBatch} (the session's max_batch_tokens).");
        }
        WorkerInput.Encoding(request.ReplyEncoding, "reply_encoding");
        WorkerInput.AtMost((ulong)request.Stages.Count, MaxStages, "stages");  // each stage appends one; a ring is never this long

        lock (runtime.ComputeLock)
        {
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

            int[]? tokens = null;
            switch (request.InputCase)
            {
                case ForwardRequest.InputOneofCase.Tokens when range.IncludesEmbedding:
                    if (request.Tokens.Ids.Count != n)
                    {
                        throw WorkerErrors.Invalid($"The step carries {request.Tokens.Ids.Count} token ids for token_count {n}.");
                    }
                    tokens = request.Tokens.Ids.ToArray();
                    foreach (var id in tokens)
                    {
                        if ((uint)id >= (uint)config.VocabularySize)
                        {
                            throw WorkerErrors.Invalid($"Token id {id} is outside the vocabulary (0..{config.VocabularySize - 1}).");
                        }
                    }
                    break;
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
                    break;
                default:
                    throw WorkerErrors.Invalid(range.IncludesEmbedding
                        ? $"Layers {range.Layers} start the model: a step must carry token ids, not {request.InputCase}."
                        : $"Layers {range.Layers} continue the model: a step must carry a hidden state, not {request.InputCase}.");
            }

            var clock = Stopwatch.StartNew();
            var forward = range.Forward;
            Output output;
            if (range.IncludesOutput)
            {
                bool all = request.WantLogits && request.LogitsForAllTokens;
                int rows = all ? n : 1;
                if (session.Logits.Length < rows * config.VocabularySize)
                {
                    session.Logits = new float[rows * config.VocabularySize];
                }
                var logits = session.Logits.AsSpan(0, rows * config.VocabularySize);
                if (tokens is not null)
                {
                    forward.EvaluateTokens(session.Cache, tokens, logits, all);
                }
                else
                {
                    forward.EvaluateHiddenToLogits(session.Cache, session.HiddenIn.AsSpan(0, n * embd), n, logits, all);
                }
                var timing = Timing(runtime, clock, request);
                output = request.WantGreedyToken && !request.WantLogits
                    ? new Output(null, null, VectorMath.ArgMax(logits[^config.VocabularySize..]), timing)
                    : new Output(null, new Logits
                    {
                        VocabularySize = (uint)config.VocabularySize,
                        RowCount = (uint)rows,
                        Data = ByteString.CopyFrom(MemoryMarshal.AsBytes(logits)),
                    }, null, timing);
            }
            else
            {
                var hiddenOut = session.HiddenOut.AsSpan(0, n * embd);
                if (tokens is not null)
                {
                    forward.EvaluateTokensToHidden(session.Cache, tokens, hiddenOut);
                }
                else
                {
                    forward.EvaluateHidden(session.Cache, session.HiddenIn.AsSpan(0, n * embd), n, hiddenOut);
                }
                var encoding = request.ReplyEncoding != ActivationEncoding.Unspecified ? request.ReplyEncoding
                    : request.InputCase == ForwardRequest.InputOneofCase.Hidden ? request.Hidden.Encoding : ActivationEncoding.F16;
                output = new Output(ActivationCodec.ToMessage(hiddenOut, n, embd, encoding), null, null, Timing(runtime, clock, request));
            }
            session.Touch();
            return output;
        }
    }

    private static StageTiming Timing(WorkerRuntime runtime, Stopwatch clock, ForwardRequest request) => new()
    {
        ComputeMicroseconds = (ulong)clock.Elapsed.TotalMicroseconds,
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
