namespace LlamaDist.Core.Sampling;

/// <summary>
/// Sampler settings with llama.cpp's defaults (common_params_sampling). The chain they configure is
/// repeat penalty -> top-k -> top-p -> min-p -> temperature -> seeded draw; Temperature &lt;= 0 is greedy.
/// </summary>
public sealed class SamplingOptions
{
    /// <summary>Divides the logits before the draw; &lt;= 0 picks the most likely token (greedy).</summary>
    public float Temperature { get; init; } = 0.8f;

    /// <summary>Keep only the K most likely tokens; &lt;= 0 keeps all.</summary>
    public int TopK { get; init; } = 40;

    /// <summary>Keep the smallest set of most likely tokens whose probabilities sum to at least P; 1 disables.</summary>
    public float TopP { get; init; } = 0.95f;

    /// <summary>Drop tokens whose probability is below MinP times the top token's; 0 disables.</summary>
    public float MinP { get; init; } = 0.05f;

    /// <summary>Penalty for tokens seen in the last <see cref="RepeatLastN"/> tokens; 1 disables.</summary>
    public float RepeatPenalty { get; init; } = 1.0f;

    /// <summary>How many recent tokens the repeat penalty looks at; 0 disables, negative means all given.</summary>
    public int RepeatLastN { get; init; } = 64;

    /// <summary>Seed of the draw: the same seed and the same logits give the same tokens on every machine.
    /// Null picks a random seed (see <see cref="Sampler.Seed"/>).</summary>
    public int? Seed { get; init; }
}
