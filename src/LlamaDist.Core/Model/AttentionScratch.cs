namespace LlamaDist.Core.Model;

/// <summary>
/// One session's attention scratch, sized by its context rather than by a batch: a score row per head over the
/// whole context and each head's query rounded to F16. It belongs to the session, so sessions evaluated together
/// in one batch (<see cref="BatchedForward"/>) never share it.
/// </summary>
internal sealed class AttentionScratch
{
    private PinnedArray<float>? _traceScores;
    private PinnedArray<float>? _traceProbabilities;

    public AttentionScratch(LlamaConfig config, int contextSize)
    {
        Scores = new PinnedArray<float>((long)config.HeadCount * contextSize, "attention score buffer");
        RoundedQuery = new PinnedArray<float>((long)config.HeadCount * config.HeadDimension, "rounded query buffer");
    }

    /// <summary>Per-head scores / probabilities of one query over the context [n_head, contextSize].</summary>
    public PinnedArray<float> Scores { get; }

    /// <summary>Per-head: the query of one token rounded to F16 values [n_head, n_embd_head].</summary>
    public PinnedArray<float> RoundedQuery { get; }

    /// <summary>
    /// Buffers for tracing kq and kq_soft_max ([n_head, tokens, kvLength] each), grown on demand: tracing is a
    /// diagnostic path and may allocate.
    /// </summary>
    public (PinnedArray<float> Scores, PinnedArray<float> Probabilities) TraceAttention(long elements)
    {
        if (_traceScores is null || _traceScores.Length < elements)
        {
            _traceScores = new PinnedArray<float>(elements, "kq trace buffer");
            _traceProbabilities = new PinnedArray<float>(elements, "kq_soft_max trace buffer");
        }
        return (_traceScores, _traceProbabilities!);
    }
}
