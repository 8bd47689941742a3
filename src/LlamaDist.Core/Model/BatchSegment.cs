namespace LlamaDist.Core.Model;

/// <summary>
/// The rows of one session inside a batched pass: rows [FirstRow, FirstRow + Tokens) of the batch evaluate that
/// session's next tokens at positions Position.. (its KV cache and attention), with the RoPE frequency factors
/// its context size selects.
/// </summary>
internal readonly record struct BatchSegment(LlamaSession Session, int FirstRow, int Tokens, int Position, float[]? RopeFrequencyFactors);
