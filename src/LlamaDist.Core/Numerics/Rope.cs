namespace LlamaDist.Core.Numerics;

/// <summary>
/// Rotary position embedding in llama's "normal" mode (GGML_ROPE_TYPE_NORM): adjacent pairs (2i, 2i+1) of each
/// head rotate by theta_i = position * base^(-2i / ropeDimensions). Angles are built like ggml_rope_cache_init
/// with no frequency scaling: theta_scale = powf(base, -2 / n_dims), theta starts at the position and is
/// multiplied by theta_scale pair by pair, all in float, then cosf/sinf.
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
        int ropeDimensions, float freqBase)
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
        Span<float> cosines = pairs <= StackPairs ? stackalloc float[pairs] : new float[pairs];
        Span<float> sines = pairs <= StackPairs ? stackalloc float[pairs] : new float[pairs];
        FillCache(position, ropeDimensions, freqBase, cosines, sines);

        for (int head = 0; head < headCount; head++)
        {
            Span<float> values = headValues.Slice(head * headDim, ropeDimensions);
            for (int i = 0; i < pairs; i++)
            {
                float x0 = values[2 * i];
                float x1 = values[2 * i + 1];
                float cos = cosines[i];
                float sin = sines[i];
                values[2 * i] = x0 * cos - x1 * sin;
                values[2 * i + 1] = x0 * sin + x1 * cos;
            }
        }
    }

    /// <summary>cos/sin of theta_i for i in [0, ropeDimensions / 2), computed as ggml computes them.</summary>
    internal static void FillCache(int position, int ropeDimensions, float freqBase, Span<float> cosines, Span<float> sines)
    {
        float thetaScale = MathF.Pow(freqBase, -2.0f / ropeDimensions);
        float theta = position;
        for (int i = 0; i < cosines.Length; i++)
        {
            cosines[i] = MathF.Cos(theta);
            sines[i] = MathF.Sin(theta);
            theta *= thetaScale;
        }
    }
}
