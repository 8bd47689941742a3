using Grpc.Core;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Worker.Hosting;

namespace LlamaDist.Worker.State;

/// <summary>
/// What an OpenSession may ask of this worker, checked before anything is allocated: a context within the
/// model's training context (else InvalidArgument: no such sequence can be evaluated correctly) and within
/// --max-context, a session count within --max-sessions, and the session's bytes — its KV cache and step
/// buffers, computed with overflow checks — within the memory still free (else ResourceExhausted).
/// </summary>
internal static class AdmissionPolicy
{
    /// <summary>
    /// Most tokens one Forward step may carry, whatever the context: 64 micro-batches of llama.cpp's default
    /// size; a step's activations must also fit one message (WorkerChannels.MaxMessageBytes).
    /// </summary>
    public const int MaxBatchTokens = 512 * 64;

    /// <summary>Checks the shape of the request against the model and the limits; returns the bytes the session will hold.</summary>
    public static long SessionBytes(WorkerOptions options, HostedRange range, OpenSessionRequest request)
    {
        var config = range.Config;
        if (request.ContextSize == 0 || request.MaxBatchTokens == 0 || request.MaxBatchTokens > request.ContextSize)
        {
            throw WorkerErrors.Invalid(
                $"context_size ({request.ContextSize}) and max_batch_tokens ({request.MaxBatchTokens}) must be positive, the batch no larger than the context.");
        }
        if (request.MaxBatchTokens > MaxBatchTokens)
        {
            throw WorkerErrors.Invalid($"max_batch_tokens {request.MaxBatchTokens} is beyond the {MaxBatchTokens} tokens a step may carry.");
        }
        if (config.ContextLength > 0 && request.ContextSize > (uint)config.ContextLength)
        {
            throw WorkerErrors.Invalid(
                $"context_size {request.ContextSize} is beyond the model's training context of {config.ContextLength} tokens.");
        }
        if (request.ContextSize > (uint)options.MaxContext)
        {
            throw Exhausted(
                $"context_size {request.ContextSize} is beyond this worker's limit of {options.MaxContext} tokens (--max-context / -MaxContext).");
        }
        try
        {
            // F16 K and V: 2 x layers x context x kv width x 2 bytes; step buffers: hidden in and out
            // [max_batch, n_embd] f32 and the logits row [n_vocab] f32 on the last stage.
            long kv = checked(2L * range.Layers.Count * request.ContextSize * config.KvWidth * sizeof(ushort));
            long hidden = checked(2L * request.MaxBatchTokens * config.EmbeddingLength * sizeof(float));
            long logits = range.IncludesOutput ? checked((long)config.VocabularySize * sizeof(float)) : 0;
            return checked(kv + hidden + logits);
        }
        catch (OverflowException)
        {
            throw Exhausted($"A session of {request.ContextSize} tokens on this range needs more bytes than any worker has.");
        }
    }

    /// <summary>Refuses a session beyond --max-sessions.</summary>
    public static void EnsureSessionSlot(WorkerOptions options, int openSessions)
    {
        if (openSessions >= options.MaxSessions)
        {
            throw Exhausted(
                $"This worker already has {openSessions} open sessions, its limit (--max-sessions / -MaxSessions). Close sessions or raise the limit.");
        }
    }

    public static RpcException Exhausted(string message) => WorkerErrors.Create(StatusCode.ResourceExhausted, WorkerFailure.Rejected, message);
}
