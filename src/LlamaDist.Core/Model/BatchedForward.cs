using LlamaDist.Core.Numerics;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Model;

/// <summary>
/// One forward pass over the next tokens of several sessions of the same <see cref="LlamaForward"/> at once, as
/// llama.cpp's server decodes its slots in one batch: the rows of every session are stacked into one activation
/// matrix, so each weight matrix of the range is streamed from memory once per step for all of them, while RoPE,
/// the KV cache and attention stay per session (each its own cache and positions). Every session's output is
/// bit for bit what <see cref="LlamaForward"/> gives it evaluated alone: norms, activations and matrix products
/// are row-wise, so a row's values do not depend on the rows beside it.
/// <para>Not thread-safe: one pass at a time (callers serialise on their compute device). The batch buffers
/// grow to the largest batch seen, at most <see cref="LlamaSession.MaxMicroBatch"/> rows.</para>
/// </summary>
public sealed class BatchedForward
{
    private SessionBuffers? buffers;
    private float[] logitRows = [];
    private BatchSegment[] segments = [];

    public BatchedForward(LlamaForward forward)
    {
        ArgumentNullException.ThrowIfNull(forward);
        Forward = forward;
    }

    public LlamaForward Forward { get; }

    /// <summary>Largest number of rows (tokens of all sessions together) one pass takes.</summary>
    public static int MaxRows => LlamaSession.MaxMicroBatch;

    /// <summary>
    /// Evaluates every step in one pass. Each session appears at most once; its tokens (first range) or hidden
    /// rows (later range) are evaluated at its position, which then advances. Nothing is changed when a step is
    /// invalid (the whole batch is checked first).
    /// </summary>
    public void Evaluate(IReadOnlyList<BatchedStep> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        int rows = Validate(steps);
        if (rows == 0)
        {
            return;
        }
        LlamaConfig config = Forward.Config;
        LlamaWeights weights = Forward.Weights;
        int embd = config.EmbeddingLength;
        SessionBuffers batch = Buffers(rows);
        if (segments.Length < steps.Count)
        {
            segments = new BatchSegment[steps.Count];
        }

        // inpL: every step's rows, one after the other.
        Span<float> residual = batch.Residual.AsSpan(0, rows * embd);
        int row = 0;
        for (int i = 0; i < steps.Count; i++)
        {
            BatchedStep step = steps[i];
            Span<float> target = residual.Slice(row * embd, step.Count * embd);
            if (step.Tokens.IsEmpty)
            {
                step.Hidden.Span[..(step.Count * embd)].CopyTo(target);
            }
            else
            {
                ReadOnlySpan<int> tokens = step.Tokens.Span;
                for (int t = 0; t < step.Count; t++)
                {
                    MatrixKernels.GetRow(weights.TokenEmbedding, tokens[t], target.Slice(t * embd, embd));
                }
                if (config.Traits.ScalesEmbedding)
                {
                    VectorMath.Scale(target, MathF.Sqrt(embd));
                }
            }
            segments[i] = new BatchSegment(step.Session, row, step.Count, step.Session.Position,
                weights.RopeFactorsFor(step.Session.ContextSize));
            row += step.Count;
        }

        ReadOnlySpan<BatchSegment> all = segments.AsSpan(0, steps.Count);
        for (int slot = 0; slot < Forward.Range.Count; slot++)
        {
            LlamaBlock.Run(Forward.Threads, config, weights.Layers[slot], batch, all, rows, slot, trace: null);
        }
        foreach (BatchSegment segment in all)
        {
            segment.Session.Advance(segment.Tokens);
        }
        WriteOutputs(steps, batch, all);
        Array.Clear(segments, 0, steps.Count);  // hold no session past the pass
    }

    /// <summary>
    /// Hidden rows go out as they are; steps that want logits get their last row through the output head, all
    /// such rows in one product (result_norm, result_output, gemma2's soft cap), as llama.cpp's inp_out_ids does.
    /// </summary>
    private void WriteOutputs(IReadOnlyList<BatchedStep> steps, SessionBuffers batch, ReadOnlySpan<BatchSegment> all)
    {
        LlamaConfig config = Forward.Config;
        int embd = config.EmbeddingLength;
        int vocabulary = config.VocabularySize;
        ReadOnlySpan<float> residual = batch.Residual.AsSpan(0, batch.Rows * embd);
        Span<float> normalized = batch.Normalized.AsSpan(0, batch.Rows * embd);
        int logitSteps = 0;
        for (int i = 0; i < steps.Count; i++)
        {
            BatchedStep step = steps[i];
            int first = all[i].FirstRow;
            if (!step.WantsLogits)
            {
                residual.Slice(first * embd, step.Count * embd).CopyTo(step.Output.Span);
                continue;
            }
            int last = first + step.Count - 1;
            VectorMath.RmsNorm(residual.Slice(last * embd, embd), Forward.Weights.OutputNorm, config.RmsEpsilon,
                normalized.Slice(logitSteps * embd, embd));
            logitSteps++;
        }
        if (logitSteps == 0)
        {
            return;
        }
        if (logitRows.Length < logitSteps * vocabulary)
        {
            logitRows = new float[logitSteps * vocabulary];
        }
        Span<float> logits = logitRows.AsSpan(0, logitSteps * vocabulary);
        MatrixKernels.MatMul(Forward.Threads, Forward.Weights.Output, normalized[..(logitSteps * embd)], logits, logitSteps);
        if (config.FinalSoftCap > 0f)
        {
            VectorMath.SoftCap(logits, config.FinalSoftCap);
        }
        int next = 0;
        foreach (BatchedStep step in steps)
        {
            if (step.WantsLogits)
            {
                logits.Slice(next++ * vocabulary, vocabulary).CopyTo(step.Output.Span);
            }
        }
    }

    private SessionBuffers Buffers(int rows)
    {
        if (buffers is null || buffers.Rows < rows)
        {
            int capacity = Math.Min(MaxRows, Math.Max(rows, (buffers?.Rows ?? 0) * 2));
            buffers = new SessionBuffers(Forward.Config, capacity);
        }
        return buffers;
    }

    /// <summary>Every check before anything changes; returns the batch's total rows.</summary>
    private int Validate(IReadOnlyList<BatchedStep> steps)
    {
        LlamaConfig config = Forward.Config;
        LayerRange range = Forward.Range;
        int embd = config.EmbeddingLength;
        long rows = 0;
        var seen = new HashSet<LlamaSession>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < steps.Count; i++)
        {
            BatchedStep step = steps[i] ?? throw new ArgumentException($"Step {i} is null.", nameof(steps));
            LlamaSession session = step.Session;
            ObjectDisposedException.ThrowIf(session.IsDisposed, session);
            if (session.Range != range || session.Config.EmbeddingLength != embd || session.Config.LayerCount != config.LayerCount)
            {
                throw new ArgumentException(
                    $"Step {i}: the session caches layers {session.Range} but this pass evaluates layers {range}.", nameof(steps));
            }
            if (!seen.Add(session))
            {
                throw new ArgumentException($"Step {i}: a session takes one step per pass.", nameof(steps));
            }
            if (step.Count <= 0)
            {
                throw new ArgumentException($"Step {i}: at least one token must be evaluated.", nameof(steps));
            }
            if (!step.Tokens.IsEmpty)
            {
                if (!range.IncludesEmbedding)
                {
                    throw new InvalidOperationException($"Layer range {range} does not start at layer 0, so it takes hidden states, not tokens.");
                }
                if (step.Tokens.Length != step.Count)
                {
                    throw new ArgumentException($"Step {i}: {step.Tokens.Length} token ids for {step.Count} tokens.", nameof(steps));
                }
                foreach (int id in step.Tokens.Span)
                {
                    if ((uint)id >= (uint)config.VocabularySize)
                    {
                        throw new ArgumentOutOfRangeException(nameof(steps), id,
                            $"Step {i}: token id {id} is outside the vocabulary [0, {config.VocabularySize}).");
                    }
                }
            }
            else if (range.IncludesEmbedding)
            {
                throw new InvalidOperationException($"Layer range {range} starts the model, so it takes tokens, not hidden states.");
            }
            else if (step.Hidden.Length < (long)step.Count * embd)
            {
                throw new ArgumentException($"Step {i}: {step.Count} hidden states need {(long)step.Count * embd} values but {step.Hidden.Length} were given.", nameof(steps));
            }
            if (step.WantsLogits && !range.IncludesOutput(config.LayerCount))
            {
                throw new InvalidOperationException($"Layer range {range} does not end at layer {config.LayerCount}, so it has no output head.");
            }
            long outputLength = step.WantsLogits ? config.VocabularySize : (long)step.Count * embd;
            if (step.Output.Length < outputLength)
            {
                throw new ArgumentException($"Step {i}: the output buffer holds {step.Output.Length} values but {outputLength} are needed.", nameof(steps));
            }
            session.EnsureCapacity(step.Count);
            rows += step.Count;
        }
        if (rows > MaxRows)
        {
            throw new ArgumentException($"A batched pass takes at most {MaxRows} rows; these steps have {rows}.", nameof(steps));
        }
        return (int)rows;
    }
}

/// <summary>
/// One session's part of a <see cref="BatchedForward"/> pass: its next <see cref="Count"/> tokens (first range)
/// or hidden rows [Count, n_embd] (later range), and where its output goes: the hidden rows [Count, n_embd], or
/// with <see cref="WantsLogits"/> the logits of its last token [n_vocab].
/// </summary>
public sealed class BatchedStep
{
    public required LlamaSession Session { get; init; }

    public required int Count { get; init; }

    public ReadOnlyMemory<int> Tokens { get; init; }

    public ReadOnlyMemory<float> Hidden { get; init; }

    public required Memory<float> Output { get; init; }

    public bool WantsLogits { get; init; }
}
