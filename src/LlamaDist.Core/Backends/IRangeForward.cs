using LlamaDist.Core.Model;

namespace LlamaDist.Core.Backends;

/// <summary>
/// The forward pass of one <see cref="LayerRange"/> on one backend, with that range's weights already on the
/// backend's device (uploaded once, by <see cref="IComputeBackend.Load"/>). The architecture's step order is the
/// same on every backend (llm_build_llama and its variants, see <see cref="LlamaForward"/>); only hidden states
/// [n, n_embd] and logits cross between the host and the device, at the range's boundaries.
/// </summary>
public interface IRangeForward : IDisposable
{
    LlamaConfig Config { get; }

    /// <summary>The layers this pass evaluates.</summary>
    LayerRange Range { get; }

    /// <summary>The device the range runs on.</summary>
    ComputeDeviceInfo Device { get; }

    /// <summary>A new sequence on this range: a KV cache of <paramref name="contextSize"/> positions and buffers for passes of up to <paramref name="maxBatch"/> tokens.</summary>
    IForwardSession CreateSession(int contextSize, int maxBatch);

    /// <summary>Whole model: evaluates <paramref name="tokens"/> and writes logits ([n_vocab] of the last token, or [tokens, n_vocab]).</summary>
    void EvaluateTokens(IForwardSession session, ReadOnlySpan<int> tokens, Span<float> logits, bool logitsForAllTokens);

    /// <summary>First range of a split model: evaluates <paramref name="tokens"/> and writes the hidden states [tokens, n_embd].</summary>
    void EvaluateTokensToHidden(IForwardSession session, ReadOnlySpan<int> tokens, Span<float> hiddenOut);

    /// <summary>Middle range: hidden states [n, n_embd] in, hidden states [n, n_embd] out (the buffers may be the same).</summary>
    void EvaluateHidden(IForwardSession session, ReadOnlySpan<float> hiddenIn, int n, Span<float> hiddenOut);

    /// <summary>Last range: hidden states [n, n_embd] in, logits ([n_vocab] of the last, or [n, n_vocab]) out.</summary>
    void EvaluateHiddenToLogits(IForwardSession session, ReadOnlySpan<float> hiddenIn, int n, Span<float> logits, bool logitsForAllTokens);
}
