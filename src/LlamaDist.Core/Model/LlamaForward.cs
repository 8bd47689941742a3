using LlamaDist.Core.Backends;
using LlamaDist.Core.Numerics;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Model;

/// <summary>
/// The reference llama forward pass for one <see cref="LayerRange"/>, following llama.cpp's llm_build_llama:
/// <code>
/// inp_embd      = token_embd[tokens]                                (first range)
/// per block     : attn_norm, Qcur/Kcur/Vcur + RoPE, F16 KV cache, causal GQA (kq, kq_soft_max, kqv_out),
///                 attn_out = Wo · kqv_out, ffn_inp = attn_out + inpL, ffn_norm, SwiGLU FFN (ffn_out),
///                 l_out = ffn_out + ffn_inp
/// result_norm   = rms_norm(l_out) * output_norm.weight               (last range)
/// result_output = Woutput · result_norm                              (logits)
/// </code>
/// A prompt of n tokens is evaluated as one batch (matrix products over [n, n_embd]) in micro-batches of the
/// session's size; results do not depend on the batch size or on the thread count. Evaluating one token
/// allocates nothing. A range that is not the whole model exchanges hidden states [n, n_embd] (the l_out of its
/// last block) with its neighbours.
/// </summary>
public sealed unsafe class LlamaForward : IRangeForward
{
    public LlamaForward(LlamaConfig config, LlamaWeights weights, ComputeThreads threads)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(threads);
        if (!SameShape(config, weights.Config))
        {
            throw new ArgumentException("The weights were loaded for a different model configuration.", nameof(weights));
        }
        Config = config;
        Weights = weights;
        Threads = threads;
    }

    public LlamaConfig Config { get; }

    public LlamaWeights Weights { get; }

    public ComputeThreads Threads { get; }

    /// <summary>The layers this pass evaluates.</summary>
    public LayerRange Range => Weights.Range;

    /// <summary>Called with every named intermediate while set (see <see cref="TraceNames"/>); null = no tracing.</summary>
    public TraceHook? Trace { get; set; }

    /// <summary>
    /// Whole model (the range must cover every layer): evaluates <paramref name="tokens"/> at the session's
    /// position and writes logits: [n_vocab] for the last token, or [tokens, n_vocab] when
    /// <paramref name="logitsForAllTokens"/>.
    /// </summary>
    public void EvaluateTokens(LlamaSession session, ReadOnlySpan<int> tokens, Span<float> logits, bool logitsForAllTokens)
    {
        RequireWholeModel();
        Evaluate(session, tokens, ReadOnlySpan<float>.Empty, tokens.Length, fromTokens: true, logits, LogitsOutput(logitsForAllTokens));
    }

    /// <summary>
    /// First range of a split model: evaluates <paramref name="tokens"/> and writes the hidden state its last
    /// block produces, [tokens, n_embd], for the next range.
    /// </summary>
    public void EvaluateTokensToHidden(LlamaSession session, ReadOnlySpan<int> tokens, Span<float> hiddenOut) =>
        Evaluate(session, tokens, ReadOnlySpan<float>.Empty, tokens.Length, fromTokens: true, hiddenOut, Output.Hidden);

    /// <summary>
    /// Middle range: evaluates <paramref name="n"/> hidden states [n, n_embd] from the previous range and writes
    /// this range's output hidden states [n, n_embd]. <paramref name="hiddenOut"/> may be the same buffer as
    /// <paramref name="hiddenIn"/> (each micro-batch is read before its rows are overwritten).
    /// </summary>
    public void EvaluateHidden(LlamaSession session, ReadOnlySpan<float> hiddenIn, int n, Span<float> hiddenOut) =>
        Evaluate(session, ReadOnlySpan<int>.Empty, hiddenIn, n, fromTokens: false, hiddenOut, Output.Hidden);

    /// <summary>
    /// Last range of a split model: evaluates <paramref name="n"/> hidden states [n, n_embd] from the previous
    /// range and writes logits ([n_vocab] for the last one, or [n, n_vocab] when <paramref name="logitsForAllTokens"/>).
    /// </summary>
    public void EvaluateHiddenToLogits(LlamaSession session, ReadOnlySpan<float> hiddenIn, int n, Span<float> logits,
        bool logitsForAllTokens)
    {
        RequireOutputRange();
        Evaluate(session, ReadOnlySpan<int>.Empty, hiddenIn, n, fromTokens: false, logits, LogitsOutput(logitsForAllTokens));
    }

    /// <summary>This machine's CPU, as the CPU backend reports it.</summary>
    public ComputeDeviceInfo Device => CpuBackend.Describe(Threads);

    /// <summary>A session over this pass's range (see <see cref="LlamaSession"/>).</summary>
    public IForwardSession CreateSession(int contextSize, int maxBatch) => new LlamaSession(Config, Range, contextSize, maxBatch);

    void IRangeForward.EvaluateTokens(IForwardSession session, ReadOnlySpan<int> tokens, Span<float> logits, bool logitsForAllTokens) =>
        EvaluateTokens(Own(session), tokens, logits, logitsForAllTokens);

    void IRangeForward.EvaluateTokensToHidden(IForwardSession session, ReadOnlySpan<int> tokens, Span<float> hiddenOut) =>
        EvaluateTokensToHidden(Own(session), tokens, hiddenOut);

    void IRangeForward.EvaluateHidden(IForwardSession session, ReadOnlySpan<float> hiddenIn, int n, Span<float> hiddenOut) =>
        EvaluateHidden(Own(session), hiddenIn, n, hiddenOut);

    void IRangeForward.EvaluateHiddenToLogits(IForwardSession session, ReadOnlySpan<float> hiddenIn, int n, Span<float> logits,
        bool logitsForAllTokens) =>
        EvaluateHiddenToLogits(Own(session), hiddenIn, n, logits, logitsForAllTokens);

    /// <summary>The weights belong to their file and the threads to their owner; nothing to release here.</summary>
    public void Dispose()
    {
    }

    private static LlamaSession Own(IForwardSession session) => session as LlamaSession
        ?? throw new ArgumentException($"A CPU forward pass needs a session it created, not a {session?.GetType().Name ?? "null"}.", nameof(session));

    /// <summary>What a pass writes: the hidden states of every token, or logits of the last / every token.</summary>
    private enum Output
    {
        Hidden,
        LastLogits,
        AllLogits,
    }

    private static Output LogitsOutput(bool forAllTokens) => forAllTokens ? Output.AllLogits : Output.LastLogits;

    private void Evaluate(LlamaSession session, ReadOnlySpan<int> tokens, ReadOnlySpan<float> hiddenIn, int n,
        bool fromTokens, Span<float> output, Output kind)
    {
        Validate(session, tokens, hiddenIn, n, output, kind, fromTokens);

        TraceHook? trace = Trace;
        int embd = Config.EmbeddingLength;
        int vocabulary = Config.VocabularySize;
        for (int done = 0; done < n; done += session.MicroBatch)
        {
            int count = Math.Min(session.MicroBatch, n - done);
            SessionBuffers buffers = session.BuffersFor(count);
            int position = session.Position;
            Span<float> residual = buffers.Residual.AsSpan(0, count * embd);

            // inpL: token embeddings (first range) or the previous range's hidden states.
            if (fromTokens)
            {
                WeightMatrix embedding = Weights.TokenEmbedding;
                for (int t = 0; t < count; t++)
                {
                    MatrixKernels.GetRow(embedding, tokens[done + t], residual.Slice(t * embd, embd));
                }
                if (Config.Traits.ScalesEmbedding)
                {
                    // gemma: inp_scaled = inp_embd * sqrtf(n_embd).
                    VectorMath.Scale(residual, MathF.Sqrt(embd));
                }
                trace?.Invoke(TraceNames.InputEmbedding, -1, count, residual);
            }
            else
            {
                hiddenIn.Slice(done * embd, count * embd).CopyTo(residual);
            }

            for (int slot = 0; slot < Range.Count; slot++)
            {
                LlamaBlock.Run(Threads, Config, Weights.Layers[slot], Weights.RopeFactorsFor(session.ContextSize), session, slot, count, position, trace);
            }
            session.Advance(count);

            switch (kind)
            {
                case Output.Hidden:
                    residual.CopyTo(output.Slice(done * embd, count * embd));
                    break;
                case Output.AllLogits:
                    WriteLogits(buffers, firstRow: 0, rows: count, output.Slice(done * vocabulary, count * vocabulary), trace);
                    break;
                case Output.LastLogits when done + count == n:
                    WriteLogits(buffers, firstRow: count - 1, rows: 1, output[..vocabulary], trace);
                    break;
            }
        }
    }

    /// <summary>
    /// result_norm = rms_norm(l_out) * output_norm.weight, result_output = Woutput · result_norm, for residual rows
    /// [firstRow, firstRow + rows) only: like llama.cpp's inp_out_ids, rows whose logits nobody asked for skip the
    /// output head (the costliest matrix of a small model).
    /// </summary>
    private void WriteLogits(SessionBuffers buffers, int firstRow, int rows, Span<float> logits, TraceHook? trace)
    {
        int embd = Config.EmbeddingLength;
        ReadOnlySpan<float> residual = buffers.Residual.AsSpan(firstRow * embd, rows * embd);
        Span<float> normalized = buffers.Normalized.AsSpan(0, rows * embd);
        LlamaBlock.RmsNormRows(residual, Weights.OutputNorm, Config.RmsEpsilon, normalized, rows, embd);
        trace?.Invoke(TraceNames.ResultNorm, -1, rows, normalized);
        MatrixKernels.MatMul(Threads, Weights.Output, normalized, logits, rows);
        if (Config.FinalSoftCap > 0f)
        {
            // gemma2: logits = cap * tanh(logits / cap).
            VectorMath.SoftCap(logits[..(rows * Config.VocabularySize)], Config.FinalSoftCap);
        }
        trace?.Invoke(TraceNames.ResultOutput, -1, rows, logits);
    }

    private void Validate(LlamaSession session, ReadOnlySpan<int> tokens, ReadOnlySpan<float> hiddenIn, int n,
        Span<float> output, Output kind, bool fromTokens)
    {
        ArgumentNullException.ThrowIfNull(session);
        ObjectDisposedException.ThrowIf(session.IsDisposed, session);
        if (session.Range != Range || !SameShape(session.Config, Config))
        {
            throw new ArgumentException(
                $"The session caches layers {session.Range} of its model but this forward pass evaluates layers {Range}.",
                nameof(session));
        }
        if (n <= 0)
        {
            throw new ArgumentException("At least one token must be evaluated.", fromTokens ? nameof(tokens) : nameof(n));
        }

        int embd = Config.EmbeddingLength;
        if (fromTokens)
        {
            if (!Range.IncludesEmbedding)
            {
                throw new InvalidOperationException(
                    $"Layer range {Range} does not start at layer 0, so it takes hidden states, not tokens.");
            }
            int vocabulary = Config.VocabularySize;
            for (int i = 0; i < tokens.Length; i++)
            {
                if ((uint)tokens[i] >= (uint)vocabulary)
                {
                    throw new ArgumentOutOfRangeException(nameof(tokens), tokens[i],
                        $"Token {i} has id {tokens[i]}, outside the vocabulary [0, {vocabulary}).");
                }
            }
        }
        else if (hiddenIn.Length < (long)n * embd)
        {
            throw new ArgumentException(
                $"{n} hidden states need {(long)n * embd} values ({n} x {embd}) but {hiddenIn.Length} were given.",
                nameof(hiddenIn));
        }

        long required = kind switch
        {
            Output.Hidden => (long)n * embd,
            Output.AllLogits => (long)n * Config.VocabularySize,
            _ => Config.VocabularySize,
        };
        if (output.Length < required)
        {
            string what = kind == Output.Hidden ? "hidden states" : "logits";
            throw new ArgumentException(
                $"The {what} buffer holds {output.Length} values but {required} are needed.", nameof(output));
        }
        session.EnsureCapacity(n);
    }

    private void RequireWholeModel()
    {
        if (!Range.IsWholeModel(Config.LayerCount))
        {
            throw new InvalidOperationException(
                $"EvaluateTokens runs the whole model, but this forward pass holds layers {Range} of " +
                $"{Config.LayerCount}; use EvaluateTokensToHidden / EvaluateHidden / EvaluateHiddenToLogits per range.");
        }
    }

    private void RequireOutputRange()
    {
        if (!Range.IncludesOutput(Config.LayerCount))
        {
            throw new InvalidOperationException(
                $"Layer range {Range} does not end at layer {Config.LayerCount}, so it has no output head; use EvaluateHidden.");
        }
    }

    private static bool SameShape(LlamaConfig a, LlamaConfig b) =>
        ReferenceEquals(a, b) ||
        (a.EmbeddingLength == b.EmbeddingLength && a.LayerCount == b.LayerCount &&
         a.FeedForwardLength == b.FeedForwardLength && a.HeadCount == b.HeadCount &&
         a.KvHeadCount == b.KvHeadCount && a.HeadDimension == b.HeadDimension &&
         a.VocabularySize == b.VocabularySize && a.RmsEpsilon == b.RmsEpsilon &&
         a.RopeFreqBase == b.RopeFreqBase && a.RopeDimensionCount == b.RopeDimensionCount &&
         a.Architecture == b.Architecture && a.SlidingWindow == b.SlidingWindow &&
         a.AttentionSoftCap == b.AttentionSoftCap && a.FinalSoftCap == b.FinalSoftCap &&
         a.RopeOriginalContext == b.RopeOriginalContext && a.RopeAttentionFactor == b.RopeAttentionFactor);
}
