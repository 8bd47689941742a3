using LlamaDist.Core.Sampling;
using LlamaDist.Gpu;

namespace LlamaDist.Engine.Generation;

/// <summary>
/// The logits a top-k sampler needs, selected where the logits are when the sequence can (<see cref="ICandidateSequence"/>):
/// the sampler's top TopK plus one per penalized recent token, and those tokens' own logits. The token sampled
/// from them is the one the sampler would pick from every logit (<see cref="Sampler.SampleCandidates"/>).
/// Sequences that cannot select, samplers without a top-k, and penalty windows longer than the device takes
/// evaluate the whole row as before.
/// </summary>
internal sealed class SamplingCandidates(IGenerationSequence sequence, Sampler sampler, int vocabulary)
{
    private readonly ICandidateSequence? selector = sequence is ICandidateSequence { SelectsCandidates: true } candidate ? candidate : null;
    private int[] penalized = [];
    private int[]? ids;
    private float[]? logits;
    private int count = -1;

    /// <summary>Whether the last evaluation left a selection (else the caller's full logits hold the row).</summary>
    public bool HasSelection => count >= 0;

    /// <summary>Evaluates <paramref name="tokens"/> into a selection when it can; false when the caller must evaluate the full row.</summary>
    public bool TryEvaluate(ReadOnlySpan<int> tokens, ReadOnlySpan<int> recentTokens)
    {
        count = -1;
        if (selector is null)
        {
            return false;
        }
        if (penalized.Length < recentTokens.Length)
        {
            penalized = new int[recentTokens.Length];
        }
        int penalizedCount = sampler.PenalizedTokens(recentTokens, vocabulary, penalized);
        int wanted = penalizedCount <= IlgpuRangeForward.MaxExtraCandidates ? sampler.CandidatesNeeded(vocabulary, penalizedCount) : 0;
        if (wanted == 0)
        {
            return false;
        }
        ids ??= new int[vocabulary + IlgpuRangeForward.MaxExtraCandidates];
        logits ??= new float[vocabulary + IlgpuRangeForward.MaxExtraCandidates];
        count = selector.EvaluateCandidates(tokens, wanted, penalized.AsSpan(0, penalizedCount), ids, logits);
        return true;
    }

    /// <summary>Samples from the selection the last <see cref="TryEvaluate"/> left.</summary>
    public int Sample(ReadOnlySpan<int> recentTokens)
    {
        if (count < 0)
        {
            throw new InvalidOperationException("No selection: the last evaluation wrote the full row of logits.");
        }
        return sampler.SampleCandidates(ids.AsSpan(0, count), logits.AsSpan(0, count), vocabulary, recentTokens);
    }
}
