using System.Runtime.InteropServices;

namespace LlamaDist.Core.Sampling;

/// <summary>One token still in the running: llama_token_data without the probability (computed where needed).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct TokenCandidate
{
    public int Id;
    public float Logit;

    public TokenCandidate(int id, float logit)
    {
        Id = id;
        Logit = logit;
    }
}

/// <summary>
/// Most likely first: higher logit first, equal logits by lower token id, so every sort and selection is
/// deterministic (std::sort / partial_sort in llama.cpp leave ties unordered).
/// </summary>
internal readonly struct MostLikelyFirst : IComparer<TokenCandidate>
{
    public int Compare(TokenCandidate x, TokenCandidate y)
    {
        if (x.Logit > y.Logit) return -1;
        if (x.Logit < y.Logit) return 1;
        return x.Id.CompareTo(y.Id);
    }

    /// <summary>
    /// The ordering as a cached delegate: Span.Sort with a comparer object boxes it and wraps it in a new delegate
    /// on every call, which would allocate per sampled token.
    /// </summary>
    public static readonly Comparison<TokenCandidate> Comparison = static (x, y) => default(MostLikelyFirst).Compare(x, y);

    /// <summary>True when <paramref name="x"/> sorts before <paramref name="y"/>.</summary>
    public static bool Before(in TokenCandidate x, in TokenCandidate y) =>
        x.Logit > y.Logit || (x.Logit == y.Logit && x.Id < y.Id);
}
