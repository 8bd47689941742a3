using LlamaDist.Core.Numerics;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Model.Tensor;

/// <summary>
/// One shard of the tensor-parallel forward pass. Every shard evaluates the same tokens at the same time:
/// <code>
/// inpL          = token_embd[tokens]                         (every shard, whole rows)
/// per block     : attn_norm (whole), Qcur/Kcur/Vcur of the shard's heads, RoPE, the shard's F16 KV cache,
///                 attention of the shard's heads, partial attn_out = Wo[:, shard columns] · kqv_out
///                 -> Sum over shards (all-reduce 1), ffn_inp = attn_out + inpL
///                 ffn_norm (whole), the shard's hidden units of SwiGLU, partial ffn_out = Wdown[:, shard columns] · …
///                 -> Sum over shards (all-reduce 2), l_out = ffn_out + ffn_inp
/// result_norm   = rms_norm(l_out) * output_norm.weight           (every shard)
/// logits slice  = Woutput[shard rows] · result_norm             [tokens, VocabularyCount]
/// </code>
/// The block is the same code the single-node pass runs (<see cref="LlamaBlock"/>), on the shard's narrowed
/// configuration, with the reductions in between. Sums differ from the single node's only in the order partial
/// products are added, so F32 models give the same greedy tokens and quantized ones logits within their
/// tolerance. A shard of a hybrid split runs only its group's layer range
/// (<see cref="TensorShardWeights.Range"/>): it starts from the previous group's hidden state unless the range
/// starts at layer 0, and hands on its residual stream l_out [tokens, n_embd] unless the range ends at the last
/// layer (every shard of the group holds the same residual stream, bit for bit).
/// </summary>
public sealed class TensorShardForward
{
    private readonly ITensorReduction _reduction;

    public TensorShardForward(TensorShardWeights weights, ComputeThreads threads, ITensorReduction reduction)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(threads);
        ArgumentNullException.ThrowIfNull(reduction);
        Weights = weights;
        Threads = threads;
        _reduction = reduction;
    }

    public TensorShardWeights Weights { get; }

    public ComputeThreads Threads { get; }

    /// <summary>The shard's configuration (its heads, KV heads and hidden units; everything else the model's).</summary>
    public LlamaConfig Config => Weights.ShardConfig;

    /// <summary>Logit columns this shard writes per token (its vocabulary rows).</summary>
    public int VocabularyCount => Weights.Slice.VocabularyCount;

    /// <summary>A session caching the shard's KV heads of every layer.</summary>
    public LlamaSession CreateSession(int contextSize, int maxBatch) =>
        new(Config, Weights.Range, contextSize, maxBatch);

    /// <summary>Whether the shard takes token ids (its range starts at layer 0) rather than a hidden state.</summary>
    public bool TakesTokens => Weights.HasTokenEmbedding;

    /// <summary>Whether the shard writes logit columns (its range ends at the last layer) rather than a hidden state.</summary>
    public bool WritesLogits => Weights.HasOutput;

    /// <summary>
    /// Evaluates <paramref name="tokens"/> at the session's position and writes the shard's logit columns:
    /// [<see cref="VocabularyCount"/>] for the last token, or [tokens, VocabularyCount] when
    /// <paramref name="logitsForAllTokens"/>. Every shard of the group must make the same call.
    /// </summary>
    public void Evaluate(LlamaSession session, ReadOnlySpan<int> tokens, Span<float> logits, bool logitsForAllTokens) =>
        EvaluateStage(session, tokens, ReadOnlySpan<float>.Empty, tokens.Length, logits, logitsForAllTokens);

    /// <summary>
    /// Evaluates <paramref name="tokenCount"/> tokens at the session's position: from <paramref name="tokens"/>
    /// when the range starts at layer 0, else from <paramref name="hidden"/> [tokenCount, n_embd] (the previous
    /// group's output). Writes logit columns as <see cref="Evaluate"/> when the range ends at the last layer, else
    /// the residual stream [tokenCount, n_embd]. Every shard of the group must make the same call.
    /// </summary>
    public void EvaluateStage(LlamaSession session, ReadOnlySpan<int> tokens, ReadOnlySpan<float> hidden, int tokenCount,
        Span<float> output, bool logitsForAllTokens)
    {
        Validate(session, tokens, hidden, tokenCount, output, logitsForAllTokens);
        LlamaConfig config = Config;
        int embd = config.EmbeddingLength;
        int columns = WritesLogits ? VocabularyCount : 0;
        int n = tokenCount;
        float[]? ropeFactors = Weights.RopeFactorsFor(session.ContextSize);
        for (int done = 0; done < n; done += session.MicroBatch)
        {
            int count = Math.Min(session.MicroBatch, n - done);
            SessionBuffers buffers = session.BuffersFor(count);
            int position = session.Position;
            Span<float> residual = buffers.Residual.AsSpan(0, count * embd);
            if (TakesTokens)
            {
                WeightMatrix embedding = Weights.TokenEmbedding;
                for (int t = 0; t < count; t++)
                {
                    MatrixKernels.GetRow(embedding, tokens[done + t], residual.Slice(t * embd, embd));
                }
                if (config.Traits.ScalesEmbedding)
                {
                    VectorMath.Scale(residual, MathF.Sqrt(embd));
                }
            }
            else
            {
                hidden.Slice(done * embd, count * embd).CopyTo(residual);
            }
            for (int slot = 0; slot < Weights.Layers.Count; slot++)
            {
                LlamaBlock.Run(Threads, config, Weights.Layers[slot], ropeFactors, session, slot, count, position,
                    trace: null, _reduction);
            }
            session.Advance(count);
            if (!WritesLogits)
            {
                residual.CopyTo(output.Slice(done * embd, count * embd));
            }
            else if (logitsForAllTokens)
            {
                WriteLogits(buffers, firstRow: 0, rows: count, output.Slice(done * columns, count * columns));
            }
            else if (done + count == n)
            {
                WriteLogits(buffers, firstRow: count - 1, rows: 1, output[..columns]);
            }
        }
    }

    private void WriteLogits(SessionBuffers buffers, int firstRow, int rows, Span<float> logits)
    {
        int embd = Config.EmbeddingLength;
        ReadOnlySpan<float> residual = buffers.Residual.AsSpan(firstRow * embd, rows * embd);
        Span<float> normalized = buffers.Normalized.AsSpan(0, rows * embd);
        LlamaBlock.RmsNormRows(residual, Weights.OutputNorm, Config.RmsEpsilon, normalized, rows, embd);
        MatrixKernels.MatMul(Threads, Weights.Output, normalized, logits, rows);
        if (Config.FinalSoftCap > 0f)
        {
            VectorMath.SoftCap(logits[..(rows * VocabularyCount)], Config.FinalSoftCap);
        }
    }

    private void Validate(LlamaSession session, ReadOnlySpan<int> tokens, ReadOnlySpan<float> hidden, int tokenCount,
        Span<float> output, bool logitsForAllTokens)
    {
        ArgumentNullException.ThrowIfNull(session);
        ObjectDisposedException.ThrowIf(session.IsDisposed, session);
        if (session.Config.KvWidth != Config.KvWidth || session.Range != Weights.Range)
        {
            throw new ArgumentException("The session was not created for this shard (use CreateSession).", nameof(session));
        }
        if (tokenCount <= 0)
        {
            throw new ArgumentException("At least one token must be evaluated.", nameof(tokenCount));
        }
        int embd = Config.EmbeddingLength;
        if (TakesTokens)
        {
            if (tokens.Length != tokenCount)
            {
                throw new ArgumentException($"{tokens.Length} token ids were given for {tokenCount} tokens.", nameof(tokens));
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
        else if (hidden.Length != (long)tokenCount * embd)
        {
            throw new ArgumentException($"The hidden state holds {hidden.Length} values; {tokenCount} tokens of width {embd} need {(long)tokenCount * embd}.", nameof(hidden));
        }
        long required = WritesLogits ? (logitsForAllTokens ? tokenCount : 1L) * VocabularyCount : (long)tokenCount * embd;
        if (output.Length < required)
        {
            throw new ArgumentException($"The output buffer holds {output.Length} values but {required} are needed.", nameof(output));
        }
        session.EnsureCapacity(tokenCount);
    }
}
