namespace LlamaDist.Core.Sampling;

/// <summary>
/// The filtering steps of llama.cpp's sampler chain over a list of candidates. Each step keeps a prefix (or a
/// compacted subset) of the span and returns the new count; none allocates.
/// </summary>
internal static class CandidateFilters
{
    /// <summary>
    /// llama_sampler_top_k: keeps the <paramref name="k"/> most likely candidates, sorted most likely first, and
    /// returns k. k &lt;= 0 or k &gt;= count changes nothing. Selection is a size-k heap (O(n log k)).
    /// </summary>
    public static int TopK(Span<TokenCandidate> candidates, int k, ref bool sorted)
    {
        if (k <= 0 || k >= candidates.Length)
        {
            return candidates.Length;
        }
        // Heap of the best k seen so far with the worst at the root; a better candidate replaces the root.
        Span<TokenCandidate> heap = candidates[..k];
        for (int i = k / 2 - 1; i >= 0; i--)
        {
            SiftDown(heap, i);
        }
        for (int i = k; i < candidates.Length; i++)
        {
            if (MostLikelyFirst.Before(candidates[i], heap[0]))
            {
                heap[0] = candidates[i];
                SiftDown(heap, 0);
            }
        }
        heap.Sort(MostLikelyFirst.Comparison);
        sorted = true;
        return k;
    }

    /// <summary>Sorts most likely first (llama.cpp sorts before top-p and inside its softmax).</summary>
    public static void Sort(Span<TokenCandidate> candidates, ref bool sorted)
    {
        if (!sorted)
        {
            candidates.Sort(MostLikelyFirst.Comparison);
            sorted = true;
        }
    }

    /// <summary>
    /// llama_sampler_top_p on sorted candidates: probabilities by softmax of the logits (float, like
    /// llama_sampler_softmax_impl), then the shortest prefix whose cumulative probability reaches
    /// <paramref name="p"/> (at least one token). p &gt;= 1 changes nothing.
    /// </summary>
    public static int TopP(Span<TokenCandidate> sortedCandidates, float p, Span<float> probabilities)
    {
        int count = sortedCandidates.Length;
        if (p >= 1f || count <= 1)
        {
            return count;
        }
        float max = sortedCandidates[0].Logit;
        float sum = 0f;
        for (int i = 0; i < count; i++)
        {
            float e = MathF.Exp(sortedCandidates[i].Logit - max);
            probabilities[i] = e;
            sum += e;
        }
        float cumulative = 0f;
        for (int i = 0; i < count; i++)
        {
            cumulative += probabilities[i] / sum;
            if (cumulative >= p)
            {
                return i + 1;
            }
        }
        return count;
    }

    /// <summary>
    /// llama_sampler_min_p: drops candidates with probability below <paramref name="minP"/> times the top
    /// probability, tested on logits as llama.cpp does (logit &gt;= max_logit + log(min_p)). Sorted candidates keep
    /// a prefix; unsorted ones are compacted in order. The most likely token always stays. minP &lt;= 0 changes nothing.
    /// </summary>
    public static int MinP(Span<TokenCandidate> candidates, float minP, bool sorted)
    {
        int count = candidates.Length;
        if (minP <= 0f || count <= 1)
        {
            return count;
        }
        float max = sorted ? candidates[0].Logit : MaxLogit(candidates);
        float threshold = max + MathF.Log(minP);
        if (sorted)
        {
            int kept = 1;
            while (kept < count && candidates[kept].Logit >= threshold)
            {
                kept++;
            }
            return kept;
        }
        int write = 0;
        for (int i = 0; i < count; i++)
        {
            if (candidates[i].Logit >= threshold)
            {
                candidates[write++] = candidates[i];
            }
        }
        return write;
    }

    /// <summary>llama_sampler_temp: logit / temperature for every candidate (temperature &gt; 0).</summary>
    public static void ApplyTemperature(Span<TokenCandidate> candidates, float temperature)
    {
        for (int i = 0; i < candidates.Length; i++)
        {
            candidates[i].Logit /= temperature;
        }
    }

    /// <summary>
    /// llama_sampler_dist: softmax of the candidates' logits, then the candidate where a uniform draw in
    /// [0, total) falls in the running sum (summed in double so a long tail cannot be lost to rounding).
    /// </summary>
    public static int Draw(ReadOnlySpan<TokenCandidate> candidates, Span<float> probabilities, ref Xoshiro256StarStar random)
    {
        float max = MaxLogit(candidates);
        double total = 0.0;
        for (int i = 0; i < candidates.Length; i++)
        {
            float e = MathF.Exp(candidates[i].Logit - max);
            probabilities[i] = e;
            total += e;
        }
        double target = random.NextDouble() * total;
        double cumulative = 0.0;
        int lastPossible = 0;
        for (int i = 0; i < candidates.Length; i++)
        {
            if (probabilities[i] > 0f)
            {
                cumulative += probabilities[i];
                lastPossible = i;
                if (target < cumulative)
                {
                    return candidates[i].Id;
                }
            }
        }
        return candidates[lastPossible].Id; // target == total after rounding
    }

    private static float MaxLogit(ReadOnlySpan<TokenCandidate> candidates)
    {
        float max = float.NegativeInfinity;
        foreach (TokenCandidate candidate in candidates)
        {
            if (candidate.Logit > max)
            {
                max = candidate.Logit;
            }
        }
        return max;
    }

    private static void SiftDown(Span<TokenCandidate> heap, int index)
    {
        while (true)
        {
            int left = 2 * index + 1;
            int right = left + 1;
            int worst = index;
            if (left < heap.Length && MostLikelyFirst.Before(heap[worst], heap[left]))
            {
                worst = left;
            }
            if (right < heap.Length && MostLikelyFirst.Before(heap[worst], heap[right]))
            {
                worst = right;
            }
            if (worst == index)
            {
                return;
            }
            (heap[index], heap[worst]) = (heap[worst], heap[index]);
            index = worst;
        }
    }
}
