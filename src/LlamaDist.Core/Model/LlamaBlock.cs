using LlamaDist.Core.Numerics;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Model;

/// <summary>
/// One decoder block over a micro-batch, step for step as llm_build_llama builds it, with the differences of the
/// block's architecture (<see cref="ModelArchitecture"/>: qwen2's Q/K/V biases and NeoX RoPE as llm_build_qwen2,
/// qwen3's per-head Q/K norms as llm_build_qwen3, phi3's fused products and query scaling as build_phi3, llama 3's
/// RoPE frequency factors). The residual
/// stream [tokens, n_embd] in <see cref="SessionBuffers.Residual"/> is the block input (inpL) and, on return,
/// the block output (l_out).
/// </summary>
internal static unsafe class LlamaBlock
{
    public static void Run(ComputeThreads threads, LlamaConfig config, LlamaLayerWeights weights, float[]? ropeFrequencyFactors,
        LlamaSession session, int slot, int tokens, int position, TraceHook? trace, Tensor.ITensorReduction? reduction = null)
    {
        var only = new BatchSegment(session, 0, tokens, position, ropeFrequencyFactors);
        Run(threads, config, weights, session.Buffers, new ReadOnlySpan<BatchSegment>(ref only), tokens, slot, trace, reduction);
    }

    /// <summary>
    /// The block over rows of several sessions at once (<see cref="BatchedForward"/>): the residual stream of
    /// <paramref name="buffers"/> holds <paramref name="tokens"/> rows, segment by segment. Norms and matrix
    /// products run over all rows together (each weight read once for the whole batch); RoPE, the KV cache and
    /// attention run per segment at its session's own positions. Every row's values are those of its session
    /// evaluated alone. A tensor-parallel shard passes its <paramref name="reduction"/>: the sum over shards of the
    /// two products that cover only the shard's heads and hidden units.
    /// </summary>
    public static void Run(ComputeThreads threads, LlamaConfig config, LlamaLayerWeights weights, SessionBuffers buffers,
        ReadOnlySpan<BatchSegment> segments, int tokens, int slot, TraceHook? trace, Tensor.ITensorReduction? reduction = null)
    {
        int layer = weights.Index;
        int embd = config.EmbeddingLength;
        Span<float> residual = buffers.Residual.AsSpan(0, tokens * embd);
        Span<float> normalized = buffers.Normalized.AsSpan(0, tokens * embd);
        Span<float> query = buffers.Query.AsSpan(0, tokens * config.QueryWidth);
        Span<float> key = buffers.Key.AsSpan(0, tokens * config.KvWidth);
        Span<float> value = buffers.Value.AsSpan(0, tokens * config.KvWidth);
        Span<float> merged = buffers.AttentionOutput.AsSpan(0, tokens * config.QueryWidth);
        Span<float> projection = buffers.Projection.AsSpan(0, tokens * embd);

        // attn_norm = rms_norm(inpL) * attn_norm.weight, row by row.
        RmsNormRows(residual, weights.AttentionNorm, config.RmsEpsilon, normalized, tokens, embd);
        trace?.Invoke(TraceNames.AttentionNorm, layer, tokens, normalized);

        // Qcur = Wq · attn_norm, Kcur = Wk · attn_norm, Vcur = Wv · attn_norm (one batched product each).
        // One conversion of attn_norm serves the three products, run as one parallel pass where types agree.
        if (weights.QueryKeyValue is { } fused)
        {
            // phi3: one product [tokens, n_q + 2 n_kv], whose column blocks are Qcur, Kcur and Vcur.
            int width = config.QueryWidth + 2 * config.KvWidth;
            Span<float> all = buffers.Fused.AsSpan(0, tokens * width);
            MatrixKernels.MatMul(threads, fused, normalized, all, tokens);
            for (int t = 0; t < tokens; t++)
            {
                Span<float> row = all.Slice(t * width, width);
                row[..config.QueryWidth].CopyTo(query.Slice(t * config.QueryWidth, config.QueryWidth));
                row.Slice(config.QueryWidth, config.KvWidth).CopyTo(key.Slice(t * config.KvWidth, config.KvWidth));
                row.Slice(config.QueryWidth + config.KvWidth, config.KvWidth).CopyTo(value.Slice(t * config.KvWidth, config.KvWidth));
            }
        }
        else
        {
            MatrixKernels.MatMul3(threads, normalized, tokens, weights.Query, query, weights.Key, key, weights.Value, value);
        }

        // qwen2: Qcur += bq, Kcur += bk, Vcur += bv (token by token).
        if (weights.QueryBias is { } queryBias)
        {
            AddRows(query, queryBias, tokens);
            AddRows(key, weights.KeyBias!, tokens);
            AddRows(value, weights.ValueBias!, tokens);
        }
        // qwen3: each head of Qcur and Kcur RMS-normalised over the head and scaled by attn_q_norm / attn_k_norm.
        if (weights.QueryNorm is { } queryNorm)
        {
            RmsNormRows(query, queryNorm, config.RmsEpsilon, query, tokens * config.HeadCount, config.HeadDimension);
            RmsNormRows(key, weights.KeyNorm!, config.RmsEpsilon, key, tokens * config.KvHeadCount, config.HeadDimension);
        }

        // RoPE (the architecture's pairing, llama 3's frequency factors where present) on every head of Qcur and
        // Kcur at each token's own position.
        RopeStyle style = config.Traits.Rope;
        foreach (BatchSegment segment in segments)
        {
            ReadOnlySpan<float> factors = segment.RopeFrequencyFactors;
            for (int i = 0; i < segment.Tokens; i++)
            {
                int t = segment.FirstRow + i, position = segment.Position + i;
                Rope.Apply(query.Slice(t * config.QueryWidth, config.QueryWidth), config.HeadCount,
                    config.HeadDimension, position, config.RopeDimensionCount, config.RopeFreqBase, style, factors, config.RopeAttentionFactor);
                Rope.Apply(key.Slice(t * config.KvWidth, config.KvWidth), config.KvHeadCount,
                    config.HeadDimension, position, config.RopeDimensionCount, config.RopeFreqBase, style, factors, config.RopeAttentionFactor);
            }
        }
        if (config.Traits.ScalesQuery)
        {
            // phi3, gemma2: Qcur = Qcur * scale after RoPE; the attention scores are then not scaled.
            VectorMath.Scale(query, config.QueryScale);
        }
        trace?.Invoke(TraceNames.Query, layer, tokens, query);
        trace?.Invoke(TraceNames.Key, layer, tokens, key);
        trace?.Invoke(TraceNames.Value, layer, tokens, value);

        // The pass's keys and values enter the F16 cache first; attention then reads them back from it.
        foreach (BatchSegment segment in segments)
        {
            long kvOffset = (long)segment.FirstRow * config.KvWidth, queryOffset = (long)segment.FirstRow * config.QueryWidth;
            segment.Session.Cache.Store(slot, buffers.Key.Pointer + kvOffset, buffers.Value.Pointer + kvOffset, segment.Tokens, segment.Position);
            LlamaAttention.Run(threads, config, segment.Session, slot, layer, segment.Tokens, segment.Position, trace,
                buffers.Query.Pointer + queryOffset, buffers.AttentionOutput.Pointer + queryOffset);
        }
        trace?.Invoke(TraceNames.AttentionOutputMerged, layer, tokens, merged);

        // attn_out = Wo · kqv_out; ffn_inp = attn_out + inpL.
        MatrixKernels.MatMul(threads, weights.AttentionOutput, merged, projection, tokens);
        reduction?.Sum(projection, tokens); // tensor-parallel: each shard's product covers only its heads
        if (weights.PostAttentionNorm is { } postAttentionNorm)
        {
            // gemma2: attn_post_norm = rms_norm(attn_out) * post_attention_norm.weight, then the residual add.
            RmsNormRows(projection, postAttentionNorm, config.RmsEpsilon, projection, tokens, embd);
        }
        trace?.Invoke(TraceNames.AttentionOutput, layer, tokens, projection);
        VectorMath.Add(residual, projection);
        trace?.Invoke(TraceNames.FeedForwardInput, layer, tokens, residual);

        // ffn_norm = rms_norm(ffn_inp) * ffn_norm.weight; ffn_out = SwiGLU FFN; l_out = ffn_out + ffn_inp.
        RmsNormRows(residual, weights.FeedForwardNorm, config.RmsEpsilon, normalized, tokens, embd);
        trace?.Invoke(TraceNames.FeedForwardNorm, layer, tokens, normalized);
        LlamaFeedForward.Run(threads, config, weights, buffers, tokens, trace);
        reduction?.Sum(projection, tokens); // tensor-parallel: each shard's product covers only its hidden units
        if (weights.PostFeedForwardNorm is { } postFeedForwardNorm)
        {
            RmsNormRows(projection, postFeedForwardNorm, config.RmsEpsilon, projection, tokens, embd);
        }
        VectorMath.Add(residual, projection);
        trace?.Invoke(TraceNames.LayerOutput, layer, tokens, residual);
    }

    /// <summary>row t += bias, for rows [0, tokens) of the bias's width.</summary>
    private static void AddRows(Span<float> rows, ReadOnlySpan<float> bias, int tokens)
    {
        for (int t = 0; t < tokens; t++)
        {
            VectorMath.Add(rows.Slice(t * bias.Length, bias.Length), bias);
        }
    }

    /// <summary>dst row t = rms_norm(src row t) * weight, for rows [0, tokens) of width <paramref name="width"/>.</summary>
    internal static void RmsNormRows(ReadOnlySpan<float> source, ReadOnlySpan<float> weight, float epsilon,
        Span<float> destination, int tokens, int width)
    {
        for (int t = 0; t < tokens; t++)
        {
            VectorMath.RmsNorm(source.Slice(t * width, width), weight, epsilon, destination.Slice(t * width, width));
        }
    }
}
