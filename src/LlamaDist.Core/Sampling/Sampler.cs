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
