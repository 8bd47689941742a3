namespace LlamaDist.Core.TestModels;

/// <summary>
/// LongRoPE factors for a synthetic Phi-3.5-style model. A real checkpoint's long_factor / short_factor lists
/// were found by search; these follow their shape deterministically: short factors rise gently from 1 to 1.5
/// (Phi-3.5 mini's run from 1.0 to about 2), long factors rise geometrically from 1 to the context scale (its
/// run from 1.08 to about 60 for a scale of 32), slow pairs stretched most. Each divides its pair's frequency.
/// </summary>
public static class LongRopeFactors
{
    /// <summary>Context / original context of the synthetic models (Phi-3.5 mini: 131072 / 4096 = 32).</summary>
    /// Two here: llama.cpp rounds a context up to a multiple of 256 before choosing the factors, so on the Tiny
    /// shape (512 over 256) a context of up to 256 runs the short factors and 512 the long ones.
    public const int ContextScale = 2;

    /// <summary>[headWidth / 2] factors used when the context exceeds the original context.</summary>
    public static float[] Long(int headWidth) =>
        Ramp(headWidth, position => MathF.Pow(ContextScale, position));

    /// <summary>[headWidth / 2] factors used within the original context.</summary>
    public static float[] Short(int headWidth) =>
        Ramp(headWidth, position => 1f + 0.5f * position * position);

    /// <summary>
    /// rope.scaling.attn_factor as convert_hf_to_gguf.py computes it for "longrope":
    /// sqrt(1 + ln(scale) / ln(original context)), or 1 when the context is not extended.
    /// </summary>
    public static float AttentionFactor(int contextLength, int originalContextLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(originalContextLength, 2);
        double scale = (double)contextLength / originalContextLength;
        return scale > 1.0 ? (float)Math.Sqrt(1 + Math.Log(scale) / Math.Log(originalContextLength)) : 1f;
    }

    private static float[] Ramp(int headWidth, Func<float, float> valueAt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(headWidth, 4);
        var factors = new float[headWidth / 2];
        for (int pair = 0; pair < factors.Length; pair++)
        {
            factors[pair] = valueAt((float)pair / (factors.Length - 1));
        }
        return factors;
    }
}
