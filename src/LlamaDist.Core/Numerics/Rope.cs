namespace LlamaDist.Core.Numerics;

/// <summary>
/// Rotary position embedding: pair i of each head rotates by theta_i = position * base^(-2i / ropeDimensions),
/// divided by frequency factor i when the model has them (llama 3's rope_freqs). In "normal" mode
/// (GGML_ROPE_TYPE_NORM, llama) pair i is the adjacent values (2i, 2i+1); in NeoX mode (GGML_ROPE_TYPE_NEOX, qwen)
/// it is (i, i + ropeDimensions / 2). Angles are built like ggml_rope_cache_init with no YaRN scaling:
/// theta_scale = powf(base, -2 / n_dims), theta starts at the position and is multiplied by theta_scale pair by
/// pair, all in float, then cosf/sinf of theta / factor.
/// </summary>
public static class Rope
{
    // Caches of up to this many pairs live on the stack.
    private const int StackPairs = 256;

    /// <summary>
    /// Rotates <paramref name="headValues"/> [headCount, headDim] in place for one token at
    /// <paramref name="position"/>. Only the first <paramref name="ropeDimensions"/> values of each head rotate;
    /// the rest are left unchanged, as ggml copies them.
    /// </summary>
    public static void ApplyNormal(Span<float> headValues, int headCount, int headDim, int position,
        int ropeDimensions, float freqBase) =>
        Apply(headValues, headCount, headDim, position, ropeDimensions, freqBase, Model.RopeStyle.Normal, ReadOnlySpan<float>.Empty);

    /// <summary>
    /// Rotates <paramref name="headValues"/> [headCount, headDim] in place for one token at
    /// <paramref name="position"/>, pairing values as <paramref name="style"/> says; <paramref name="frequencyFactors"/>
    /// ([ropeDimensions / 2], or empty) divide the angles. Only the first <paramref name="ropeDimensions"/> values
    /// of each head rotate; the rest are left unchanged, as ggml copies them. <paramref name="magnitude"/> scales every
    /// cos and sin (LongRoPE's attention factor; 1 for plain RoPE).
    /// </summary>
    public static void Apply(Span<float> headValues, int headCount, int headDim, int position,
        int ropeDimensions, float freqBase, Model.RopeStyle style, ReadOnlySpan<float> frequencyFactors, float magnitude = 1f)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headDim);
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        if (ropeDimensions <= 0 || ropeDimensions > headDim || ropeDimensions % 2 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ropeDimensions), ropeDimensions,
                $"RoPE dimensions must be even and in (0, {headDim}].");
        }
        if (headValues.Length < (long)headCount * headDim)
        {
            throw new ArgumentException(
                $"Buffer holds {headValues.Length} values but {headCount} heads of {headDim} need {headCount * headDim}.",
                nameof(headValues));
        }
        int pairs = ropeDimensions / 2;
        if (!frequencyFactors.IsEmpty && frequencyFactors.Length != pairs)
        {
            throw new ArgumentException($"{frequencyFactors.Length} frequency factors for {pairs} rotated pairs.", nameof(frequencyFactors));
        }

        Span<float> cosines = pairs <= StackPairs ? stackalloc float[pairs] : new float[pairs];
        Span<float> sines = pairs <= StackPairs ? stackalloc float[pairs] : new float[pairs];
        FillCache(position, ropeDimensions, freqBase, frequencyFactors, cosines, sines);
        if (magnitude != 1f)
        {
            // LongRoPE's attention factor: ggml's rope_yarn multiplies cos and sin by mscale.
            for (int i = 0; i < pairs; i++)
            {
                cosines[i] *= magnitude;
                sines[i] *= magnitude;
            }
        }

        // Normal: pair i is (2i, 2i + 1); NeoX: (i, i + pairs).
        int stride = style == Model.RopeStyle.NeoX ? 1 : 2;
        int partner = style == Model.RopeStyle.NeoX ? pairs : 1;
        for (int head = 0; head < headCount; head++)
        {
            Span<float> values = headValues.Slice(head * headDim, ropeDimensions);
            for (int i = 0; i < pairs; i++)
            {
                int first = i * stride;
                float x0 = values[first];
                float x1 = values[first + partner];
                float cos = cosines[i];
                float sin = sines[i];
                values[first] = x0 * cos - x1 * sin;
                values[first + partner] = x0 * sin + x1 * cos;
            }
        }
    }

    /// <summary>cos/sin of theta_i for i in [0, ropeDimensions / 2), computed as ggml computes them.</summary>
    internal static void FillCache(int position, int ropeDimensions, float freqBase, Span<float> cosines, Span<float> sines) =>
        FillCache(position, ropeDimensions, freqBase, ReadOnlySpan<float>.Empty, cosines, sines);

    /// <summary>The same, each angle divided by its frequency factor when <paramref name="frequencyFactors"/> is not empty.</summary>
    internal static void FillCache(int position, int ropeDimensions, float freqBase, ReadOnlySpan<float> frequencyFactors,
        Span<float> cosines, Span<float> sines)
    {
        float thetaScale = MathF.Pow(freqBase, -2.0f / ropeDimensions);
        float theta = position;
        for (int i = 0; i < cosines.Length; i++)
        {
            float angle = frequencyFactors.IsEmpty ? theta : theta / frequencyFactors[i];
            cosines[i] = MathF.Cos(angle);
            sines[i] = MathF.Sin(angle);
            theta *= thetaScale;
        }
    }
}
