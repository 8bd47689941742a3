namespace LlamaDist.Engine.Generation;

/// <summary>
/// A sequence that can hand a top-k sampler only the logits it needs (selected where the logits are, so a few
/// hundred pairs travel instead of the vocabulary): the ILGPU backend selects them on the device.
/// </summary>
internal interface ICandidateSequence
{
    /// <summary>Whether <see cref="EvaluateCandidates"/> selects where the logits are (else there is no gain in calling it).</summary>
    bool SelectsCandidates { get; }

    /// <summary>
    /// Evaluates tokens and writes (id, logit) pairs of the last position: every logit at least as large as the
    /// <paramref name="wanted"/>-th largest, then those of <paramref name="extraIds"/>; returns how many. The
    /// spans hold at least the vocabulary plus the extra ids.
    /// </summary>
    int EvaluateCandidates(ReadOnlySpan<int> tokens, int wanted, ReadOnlySpan<int> extraIds, Span<int> ids, Span<float> logits);
}
