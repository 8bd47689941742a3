using LlamaDist.Core.Numerics;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Model;

/// <summary>
/// The llama SwiGLU feed-forward (build_ffn with LLM_FFN_SILU, LLM_FFN_PAR):
/// <code>
/// ffn_gate   = Wgate · ffn_norm            [tokens, n_ff]
/// ffn_up     = Wup   · ffn_norm            [tokens, n_ff]
/// ffn_swiglu = silu(ffn_gate) * ffn_up     [tokens, n_ff]
/// ffn_out    = Wdown · ffn_swiglu          [tokens, n_embd]
/// </code>
/// </summary>
internal static unsafe class LlamaFeedForward
{
    /// <summary>Reads ffn_norm from <see cref="SessionBuffers.Normalized"/>, writes ffn_out to <see cref="SessionBuffers.Projection"/>.</summary>
    public static void Run(ComputeThreads threads, LlamaConfig config, LlamaLayerWeights weights,
        SessionBuffers buffers, int tokens, TraceHook? trace)
    {
        int hiddenElements = tokens * config.FeedForwardLength;
        ReadOnlySpan<float> normalized = buffers.Normalized.AsSpan(0, tokens * config.EmbeddingLength);
        Span<float> gate = buffers.Gate.AsSpan(0, hiddenElements);
        Span<float> up = buffers.Up.AsSpan(0, hiddenElements);
        Span<float> output = buffers.Projection.AsSpan(0, tokens * config.EmbeddingLength);

        if (weights.GateUp is { } fused)
        {
            // phi3: one product [tokens, 2 n_ff]; the first n_ff columns are the gate, the rest up.
            int width = 2 * config.FeedForwardLength;
            Span<float> all = buffers.Fused.AsSpan(0, tokens * width);
            MatrixKernels.MatMul(threads, fused, normalized, all, tokens);
            for (int t = 0; t < tokens; t++)
            {
                all.Slice(t * width, config.FeedForwardLength).CopyTo(gate.Slice(t * config.FeedForwardLength, config.FeedForwardLength));
                all.Slice(t * width + config.FeedForwardLength, config.FeedForwardLength).CopyTo(up.Slice(t * config.FeedForwardLength, config.FeedForwardLength));
            }
        }
        else
        {
            MatrixKernels.MatMul2(threads, normalized, tokens, weights.Gate, gate, weights.Up, up);
        }
        trace?.Invoke(TraceNames.Gate, weights.Index, tokens, gate);
        trace?.Invoke(TraceNames.Up, weights.Index, tokens, up);

        // silu(gate) * up, token rows split across the threads (an element's value does not depend on who
        // computes it); one token runs inline.
        fixed (float* gatePointer = gate)
        fixed (float* upPointer = up)
        {
            threads.For(tokens, new GatedUnitWork(gatePointer, upPointer, config.FeedForwardLength, config.Traits.GeluFeedForward));
        }
        trace?.Invoke(TraceNames.SwiGlu, weights.Index, tokens, gate);

        MatrixKernels.MatMul(threads, weights.Down, gate, output, tokens);
        trace?.Invoke(TraceNames.FeedForwardOutput, weights.Index, tokens, output);
    }

    /// <summary>SwiGLU (or GeGLU) of token rows [start, end) of gate [tokens, width] with up, in place in gate.</summary>
    private readonly struct GatedUnitWork(float* gate, float* up, int width, bool gelu) : IRangeWork
    {
        public void Execute(int start, int end)
        {
            long offset = (long)start * width, count = (long)(end - start) * width;
            var gates = new Span<float>(gate + offset, (int)count);
            var ups = new ReadOnlySpan<float>(up + offset, (int)count);
            if (gelu)
            {
                VectorMath.GeGlu(gates, ups);
            }
            else
            {
                VectorMath.SwiGlu(gates, ups);
            }
        }
    }
}
