namespace LlamaDist.Core.Sampling;

/// <summary>
/// llama.cpp's repeat penalty (llama_sampler_penalties with penalty_repeat only): every distinct token among the
/// last N is made less likely once, however often it occurs: a positive logit is divided by the penalty, a
/// non-positive one multiplied by it.
/// </summary>
internal static class RepetitionPenalty
{
    /// <param name="logits">Logits of the whole vocabulary, changed in place.</param>
    /// <param name="recentTokens">History, oldest first; only its last <paramref name="lastN"/> count (all if negative).</param>
    /// <param name="seen">Scratch of the vocabulary's size, all false on entry and on return.</param>
    public static void Apply(Span<float> logits, ReadOnlySpan<int> recentTokens, float penalty, int lastN, bool[] seen)
    {
        if (penalty == 1f || lastN == 0 || recentTokens.IsEmpty)
        {
            return;
        }
        ReadOnlySpan<int> window = lastN < 0 || lastN >= recentTokens.Length
            ? recentTokens
            : recentTokens[^lastN..];
        foreach (int token in window)
        {
            if ((uint)token >= (uint)logits.Length)
            {
                ClearSeen(window, seen, logits.Length);
                throw new ArgumentOutOfRangeException(nameof(recentTokens), token,
                    $"Recent token {token} is outside the vocabulary [0, {logits.Length}).");
            }
            if (seen[token])
            {
                continue;
            }
            seen[token] = true;
            float logit = logits[token];
            logits[token] = logit <= 0f ? logit * penalty : logit / penalty;
        }
        ClearSeen(window, seen, logits.Length);
    }

    /// <summary>The tokens the penalty looks at: the last <paramref name="lastN"/> of the history (all if negative), none when it changes nothing.</summary>
    public static ReadOnlySpan<int> Window(ReadOnlySpan<int> recentTokens, float penalty, int lastN) =>
        penalty == 1f || lastN == 0 || recentTokens.IsEmpty ? ReadOnlySpan<int>.Empty
        : lastN < 0 || lastN >= recentTokens.Length ? recentTokens
        : recentTokens[^lastN..];

    /// <summary>The same penalty on a selection of candidates: those whose id is among the recent tokens.</summary>
    /// <param name="seen">Scratch of the vocabulary's size, all false on entry and on return.</param>
    public static void Apply(Span<TokenCandidate> candidates, ReadOnlySpan<int> recentTokens, float penalty, int lastN, bool[] seen)
    {
        ReadOnlySpan<int> window = Window(recentTokens, penalty, lastN);
        if (window.IsEmpty)
        {
            return;
        }
        foreach (int token in window)
        {
            if ((uint)token >= (uint)seen.Length)
            {
                ClearSeen(window, seen, seen.Length);
                throw new ArgumentOutOfRangeException(nameof(recentTokens), token,
                    $"Recent token {token} is outside the vocabulary [0, {seen.Length}).");
            }
            seen[token] = true;
        }
        for (int i = 0; i < candidates.Length; i++)
        {
            if (seen[candidates[i].Id])
            {
                float logit = candidates[i].Logit;
                candidates[i].Logit = logit <= 0f ? logit * penalty : logit / penalty;
            }
        }
        ClearSeen(window, seen, seen.Length);
    }

    private static void ClearSeen(ReadOnlySpan<int> window, bool[] seen, int vocabulary)
    {
        foreach (int token in window)
        {
            if ((uint)token < (uint)vocabulary)
            {
                seen[token] = false;
            }
        }
    }
}
