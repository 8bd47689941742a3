namespace LlamaDist.Core.TestModels;

/// <summary>
/// The rope_freqs.weight values llama.cpp's converter generates for a Llama 3.1+ checkpoint (rope_scaling of
/// rope_type "llama3"): one factor per rotated pair, dividing that pair's frequency. Wavelengths shorter than
/// original_context / high_freq_factor keep factor 1, those longer than original_context / low_freq_factor get
/// the full factor, and the band in between is interpolated smoothly. Computed in float as torch does
/// (freqs = 1 / base^(arange(0, dim, 2) / dim) in float32), then stored as F32.
/// </summary>
public static class Llama3RopeFactors
{
    /// <summary>Llama 3.1's rope_scaling: factor 8, low/high frequency factors 1 and 4, original context 8192.</summary>
    public const float Factor = 8f;
    public const float LowFrequencyFactor = 1f;
    public const float HighFrequencyFactor = 4f;
    public const int OriginalContextLength = 8192;

    /// <summary>[headDimension / 2] factors for RoPE base <paramref name="ropeBase"/>.</summary>
    public static float[] Compute(int headDimension, float ropeBase)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(headDimension, 2);
        double lowFrequencyWavelength = OriginalContextLength / LowFrequencyFactor;
        double highFrequencyWavelength = OriginalContextLength / HighFrequencyFactor;
        var factors = new float[headDimension / 2];
        for (int pair = 0; pair < factors.Length; pair++)
        {
            // torch: base ** (arange(0, dim, 2, float32) / dim), a float32 tensor; 1.0 / that stays float32.
            float exponent = (float)(2 * pair) / headDimension;
            float frequency = 1f / MathF.Pow(ropeBase, exponent);
            // Python: 2 * math.pi / freq with freq a 0-d float32 tensor gives a float32 tensor.
            float wavelength = (float)(2 * Math.PI) / frequency;
            if (wavelength < highFrequencyWavelength)
            {
                factors[pair] = 1f;
            }
            else if (wavelength > lowFrequencyWavelength)
            {
                factors[pair] = Factor;
            }
            else
            {
                float smooth = (OriginalContextLength / wavelength - LowFrequencyFactor) / (HighFrequencyFactor - LowFrequencyFactor);
                factors[pair] = 1f / ((1f - smooth) / Factor + smooth);
            }
        }
        return factors;
    }
}
