using System.Globalization;
using LlamaDist.Core.Numerics;

namespace LlamaDist.Core.Sampling;

/// <summary>
/// Picks the next token from logits with llama.cpp's default chain semantics:
/// repeat penalty -> top-k -> top-p -> min-p -> temperature -> seeded draw, or, for Temperature &lt;= 0, the
/// first most likely token (after the repeat penalty, as llama.cpp's chain applies it before its greedy pick).
/// The draw uses xoshiro256** seeded from <see cref="Seed"/>: the same seed and logits give the same tokens on
/// every machine. Buffers are sized to the vocabulary on the first call and reused, so sampling allocates
/// nothing per token. Not thread-safe (one sampler per sequence).
/// </summary>
public sealed class Sampler
{
    private readonly float _temperature;
    private readonly int _topK;
    private readonly float _topP;
    private readonly float _minP;
    private readonly float _repeatPenalty;
    private readonly int _repeatLastN;
    private Xoshiro256StarStar _random;

    private float[] _logits = [];
    private TokenCandidate[] _candidates = [];
    private float[] _probabilities = [];
    private bool[] _seen = [];

    /// <summary>Validates <paramref name="options"/> (ArgumentOutOfRangeException naming the setting) and seeds the draw.</summary>
    public Sampler(SamplingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (float.IsNaN(options.Temperature) || float.IsInfinity(options.Temperature))
            throw OutOfRange(nameof(options.Temperature), options.Temperature, "must be a finite number (<= 0 for greedy)");
        if (!(options.TopP >= 0f && options.TopP <= 1f))
            throw OutOfRange(nameof(options.TopP), options.TopP, "must be in [0, 1]");
        if (!(options.MinP >= 0f && options.MinP <= 1f))
            throw OutOfRange(nameof(options.MinP), options.MinP, "must be in [0, 1]");
        if (!(options.RepeatPenalty > 0f) || float.IsInfinity(options.RepeatPenalty))
            throw OutOfRange(nameof(options.RepeatPenalty), options.RepeatPenalty, "must be a positive number");

        Options = options;
        _temperature = options.Temperature;
        _topK = options.TopK;
        _topP = options.TopP;
        _minP = options.MinP;
        _repeatPenalty = options.RepeatPenalty;
        _repeatLastN = options.RepeatLastN;
        Seed = options.Seed is int seed ? unchecked((uint)seed) : (uint)Random.Shared.NextInt64(0, 1L << 32);
        _random = new Xoshiro256StarStar(Seed);
    }

    public SamplingOptions Options { get; }

    /// <summary>The seed in use: <see cref="SamplingOptions.Seed"/>, or the random one chosen when it was null.</summary>
    public uint Seed { get; }

    /// <summary>
    /// Samples one token id from <paramref name="logits"/> [n_vocab]. <paramref name="recentTokens"/> is the
    /// history (oldest first) the repeat penalty looks at; only its last RepeatLastN tokens count. Neither span
    /// is modified.
    /// </summary>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> recentTokens)
    {
        if (logits.IsEmpty)
        {
            throw new ArgumentException("There are no logits to sample from.", nameof(logits));
        }
        EnsureCapacity(logits.Length);
        Span<float> working = _logits.AsSpan(0, logits.Length);
        logits.CopyTo(working);
        RepetitionPenalty.Apply(working, recentTokens, _repeatPenalty, _repeatLastN, _seen);

        if (_temperature <= 0f)
        {
            return VectorMath.ArgMax(working);
        }

        Span<TokenCandidate> candidates = _candidates.AsSpan(0, working.Length);
        for (int i = 0; i < working.Length; i++)
        {
            candidates[i] = new TokenCandidate(i, working[i]);
        }
        return Filter(candidates);
    }

    /// <summary>
    /// How many of the largest logits <see cref="SampleCandidates"/> needs (besides the penalized tokens' own) to
    /// pick exactly what <see cref="Sample"/> picks from all of them: TopK (1 when greedy) plus one per penalized
    /// token, since each of those can fall out of the top. 0 when this sampler needs every logit: no top-k, or one
    /// that reaches the vocabulary.
    /// </summary>
    public int CandidatesNeeded(int vocabulary, int penalizedTokens)
    {
        int kept = _temperature <= 0f ? 1 : _topK;
        if (kept <= 0 || (long)kept + penalizedTokens >= vocabulary)
        {
            return 0;
        }
        return kept + penalizedTokens;
    }

    /// <summary>
    /// The distinct tokens the repeat penalty changes, given the same history <see cref="Sample"/> takes, written to
    /// <paramref name="destination"/> (at least the window's length); returns how many.
    /// </summary>
    public int PenalizedTokens(ReadOnlySpan<int> recentTokens, int vocabulary, Span<int> destination)
    {
        EnsureCapacity(vocabulary);
        ReadOnlySpan<int> window = RepetitionPenalty.Window(recentTokens, _repeatPenalty, _repeatLastN);
        int count = 0;
        foreach (int token in window)
        {
            if ((uint)token < (uint)vocabulary && !_seen[token])
            {
                _seen[token] = true;
                destination[count++] = token;
            }
        }
        foreach (int token in destination[..count])
        {
            _seen[token] = false;
        }
        return count;
    }

    /// <summary>
    /// Samples as <see cref="Sample"/> does, from a selection of the logits: (<paramref name="ids"/>[i],
    /// <paramref name="logits"/>[i]) pairs in any order, repeats allowed, holding at least the
    /// <see cref="CandidatesNeeded"/> largest logits (largest first, then lowest id) and every penalized token's
    /// logit. Given the same draws, the token is the one <see cref="Sample"/> would pick from all the logits: the
    /// penalty changes only penalized tokens, so the top TopK after it are among the selection, and every later
    /// step sees only those.
    /// </summary>
    public int SampleCandidates(ReadOnlySpan<int> ids, ReadOnlySpan<float> logits, int vocabulary, ReadOnlySpan<int> recentTokens)
    {
        if (ids.IsEmpty || ids.Length != logits.Length)
        {
            throw new ArgumentException($"Candidates need as many ids as logits, and at least one (got {ids.Length} and {logits.Length}).", nameof(ids));
        }
        EnsureCapacity(vocabulary);
        Span<TokenCandidate> candidates = _candidates.AsSpan(0, Math.Min(ids.Length, vocabulary));
        int count = 0;
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            if ((uint)id >= (uint)vocabulary)
            {
                ClearSeen(candidates[..count]);
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Candidate {i} has id {id}, outside the vocabulary [0, {vocabulary}).");
            }
            if (!_seen[id])
            {
                _seen[id] = true;
                candidates[count++] = new TokenCandidate(id, logits[i]);
            }
        }
        candidates = candidates[..count];
        ClearSeen(candidates);
        RepetitionPenalty.Apply(candidates, recentTokens, _repeatPenalty, _repeatLastN, _seen);
        if (_temperature <= 0f)
        {
            TokenCandidate best = candidates[0];
            foreach (TokenCandidate candidate in candidates[1..])
            {
                if (MostLikelyFirst.Before(candidate, best))
                {
                    best = candidate;
                }
            }
            return best.Id;
        }
        // Most likely first, as top-k leaves the full row: a selection of exactly TopK would skip top-k's sort,
        // and the draw walks the candidates in order.
        candidates.Sort(MostLikelyFirst.Comparison);
        return Filter(candidates);
    }

    /// <summary>top-k, top-p, min-p, temperature and the draw over (penalized) candidates.</summary>
    private int Filter(Span<TokenCandidate> candidates)
    {
        bool sorted = false;
        candidates = candidates[..CandidateFilters.TopK(candidates, _topK, ref sorted)];
        if (_topP < 1f)
        {
            CandidateFilters.Sort(candidates, ref sorted);
            candidates = candidates[..CandidateFilters.TopP(candidates, _topP, _probabilities)];
        }
        candidates = candidates[..CandidateFilters.MinP(candidates, _minP, sorted)];
        CandidateFilters.ApplyTemperature(candidates, _temperature);
        return CandidateFilters.Draw(candidates, _probabilities, ref _random);
    }

    private void ClearSeen(ReadOnlySpan<TokenCandidate> candidates)
    {
        foreach (TokenCandidate candidate in candidates)
        {
            _seen[candidate.Id] = false;
        }
    }

    private void EnsureCapacity(int vocabulary)
    {
        if (_logits.Length != vocabulary)
        {
            _logits = new float[vocabulary];
            _candidates = new TokenCandidate[vocabulary];
            _probabilities = new float[vocabulary];
            _seen = new bool[vocabulary];
        }
    }

    private static ArgumentOutOfRangeException OutOfRange(string name, float value, string rule) =>
        new(name, value, $"{name} {rule}; got {value.ToString(CultureInfo.InvariantCulture)}.");
}
