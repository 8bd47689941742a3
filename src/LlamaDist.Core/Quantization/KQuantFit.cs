using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Pieces shared by the K-quant formats (super-blocks of 256): the scale/min fit of Q2_K, Q4_K and Q5_K, the
/// symmetric scale search of Q3_K and the choice of row kernel for a SIMD level.
/// </summary>
internal static unsafe class KQuantFit
{
    /// <summary>
    /// True when the K-quant dot at <paramref name="level"/> runs the AVX2 kernel: Vector256 and Vector512 do
    /// (ggml's AVX-512 builds also run the AVX2 K-quant dots), narrower levels run the scalar reference.
    /// </summary>
    public static bool UsesAvx2(SimdLevel level) =>
        level >= SimdLevel.Vector256 && Avx2.IsSupported && Fma.IsSupported;

    /// <summary>
    /// The asymmetric fit of Q4_K (<paramref name="maxLevel"/> 15) and Q5_K (31) for one 256-element block:
    /// per 32-element sub-block, value ~ scale * q - minimum with q in [0, maxLevel], scale and minimum from
    /// <see cref="SearchScaleAndMin"/> (the range fit and 16 candidates around it). The 8 scales and 8 minimums
    /// become 6-bit levels against d = largest scale / 63 and dmin = largest minimum / 63 (written as fp16 at
    /// block offsets 0 and 2): for each sub-block the floor and ceiling level of both its scale and its minimum are tried and the pair with the
    /// lowest squared error kept (rounding a small scale down would otherwise clip the top of its range). Each
    /// element gets the nearest level of its sub-block's quantized scale and minimum (ggml's final step too).
    /// </summary>
    public static void QuantizeAsymmetric(float* x, byte* block, Span<byte> levels, Span<byte> scaleLevels,
        Span<byte> minLevels, int maxLevel)
    {
        FitAsymmetric(x, levels, scaleLevels, minLevels, maxLevel, subBlockSize: 32, maxScaleLevel: 63,
            out ushort dBits, out ushort dminBits);
        Unsafe.WriteUnaligned(block, dBits);
        Unsafe.WriteUnaligned(block + 2, dminBits);
    }

    /// <summary>
    /// The asymmetric fit for one 256-element block, in sub-blocks of <paramref name="subBlockSize"/> with
    /// element levels 0..<paramref name="maxLevel"/> and scale/min levels 0..<paramref name="maxScaleLevel"/>
    /// (returned as the fp16 bits of d and dmin). Each sub-block's float scale and minimum come from
    /// <see cref="SearchScaleAndMin"/>; they are then quantized against d and dmin, and the elements against them.
    /// </summary>
    public static void FitAsymmetric(float* x, Span<byte> levels, Span<byte> scaleLevels, Span<byte> minLevels,
        int maxLevel, int subBlockSize, int maxScaleLevel, out ushort dBits, out ushort dminBits)
    {
        int subBlocks = 256 / subBlockSize;
        Span<float> scales = stackalloc float[subBlocks];
        Span<float> mins = stackalloc float[subBlocks];
        float maxScale = 0f, maxMin = 0f;
        for (int s = 0; s < subBlocks; s++)
        {
            float* values = x + s * subBlockSize;
            SearchScaleAndMin(values, subBlockSize, maxLevel, out scales[s], out mins[s]);
            maxScale = MathF.Max(maxScale, scales[s]);
            maxMin = MathF.Max(maxMin, mins[s]);
        }
        dBits = F16Format.FromSingle(maxScale / maxScaleLevel);
        dminBits = F16Format.FromSingle(maxMin / maxScaleLevel);
        float d = F16Format.ToSingle(dBits);
        float dmin = F16Format.ToSingle(dminBits);
        for (int s = 0; s < subBlocks; s++)
        {
            float* values = x + s * subBlockSize;
            float scaleRatio = d > 0f ? scales[s] / d : 0f;
            float minRatio = dmin > 0f ? mins[s] / dmin : 0f;
            double bestError = double.PositiveInfinity;
            for (int scaleCandidate = 0; scaleCandidate < 2; scaleCandidate++)
            {
                int ls = Math.Clamp((int)(scaleCandidate == 0 ? MathF.Floor(scaleRatio) : MathF.Ceiling(scaleRatio)), 0, maxScaleLevel);
                for (int minCandidate = 0; minCandidate < 2; minCandidate++)
                {
                    int lm = Math.Clamp((int)(minCandidate == 0 ? MathF.Floor(minRatio) : MathF.Ceiling(minRatio)), 0, maxScaleLevel);
                    double error = SubBlockError(values, subBlockSize, d * ls, dmin * lm, maxLevel);
                    if (error < bestError)
                    {
                        bestError = error;
                        scaleLevels[s] = (byte)ls;
                        minLevels[s] = (byte)lm;
                    }
                }
            }
            float step = d * scaleLevels[s];
            float offset = dmin * minLevels[s];
            for (int l = 0; l < subBlockSize; l++)
            {
                levels[s * subBlockSize + l] = (byte)Level(values[l], step, offset, maxLevel);
            }
        }
    }

    /// <summary>
    /// An unweighted version of ggml's make_qkx2_quants search for value ~ scale * q - minimum, q in
    /// [0, maxLevel], minimum &gt;= 0: starting from the range fit, the inverse scale is tried at
    /// (maxLevel + k / 10) / range for k = -5..10; each candidate's levels get a least-squares scale and offset
    /// (offset clamped to &lt;= 0), and the pair with the lowest squared error wins. llama-quantize also weights the
    /// error by |x| and, with an imatrix, by activation statistics; this fit does neither.
    /// </summary>
    public static void SearchScaleAndMin(float* values, int count, int maxLevel, out float scale, out float minimum)
    {
        float lowest = 0f, highest = float.NegativeInfinity;
        for (int l = 0; l < count; l++)
        {
            lowest = MathF.Min(lowest, values[l]);
            highest = MathF.Max(highest, values[l]);
        }
        float range = highest - lowest;
        if (!(range > 0f))
        {
            scale = 0f;
            minimum = -lowest;
            return;
        }
        scale = range / maxLevel;
        minimum = -lowest;
        double bestError = SubBlockError(values, count, scale, minimum, maxLevel);
        for (int k = -5; k <= 10; k++)
        {
            float inverseScale = (maxLevel + 0.1f * k) / range;
            double sumL = 0, sumL2 = 0, sumXL = 0, sumX = 0;
            for (int l = 0; l < count; l++)
            {
                int q = Math.Clamp(Q8_KFormat.NearestInt(inverseScale * (values[l] - lowest)), 0, maxLevel);
                sumL += q;
                sumL2 += (double)q * q;
                sumXL += (double)q * values[l];
                sumX += values[l];
            }
            double determinant = count * sumL2 - sumL * sumL;
            if (determinant <= 0)
            {
                continue;
            }
            double candidateScale = (count * sumXL - sumX * sumL) / determinant;
            double candidateOffset = (sumL2 * sumX - sumL * sumXL) / determinant;
            if (candidateOffset > 0)
            {
                candidateOffset = 0;
                candidateScale = sumXL / sumL2;
            }
            if (candidateScale <= 0)
            {
                continue;
            }
            double error = SubBlockError(values, count, (float)candidateScale, (float)-candidateOffset, maxLevel);
            if (error < bestError)
            {
                bestError = error;
                scale = (float)candidateScale;
                minimum = (float)-candidateOffset;
            }
        }
    }

    /// <summary>
    /// The first value of largest magnitude, sign kept (ggml's amax/max scan), with that magnitude in
    /// <paramref name="largest"/>; 0 and 0 for an all-zero run.
    /// </summary>
    public static float LargestMagnitude(float* values, int count, out float largest)
    {
        float max = 0f;
        largest = 0f;
        for (int l = 0; l < count; l++)
        {
            float magnitude = MathF.Abs(values[l]);
            if (magnitude > largest)
            {
                largest = magnitude;
                max = values[l];
            }
        }
        return max;
    }

    /// <summary>
    /// A symmetric scale for value ~ scale * q with q in [-<paramref name="maxMagnitude"/>,
    /// <paramref name="maxMagnitude"/> - 1] (Q3_K: 4), an unweighted version of ggml's make_qx_quants: the value of
    /// largest magnitude (sign kept) maps to -maxMagnitude, the inverse scale is also tried at
    /// -(maxMagnitude + k / 10) / max for k = -9..9, and each candidate's levels get the least-squares scale; the
    /// one with the lowest squared error wins. Zero for an all-zero sub-block.
    /// </summary>
    public static float SearchSymmetricScale(float* values, int count, int maxMagnitude)
    {
        float max = LargestMagnitude(values, count, out float amax);
        if (amax == 0f)
        {
            return 0f;
        }
        float best = max / -maxMagnitude;
        double bestGain = -1;
        for (int k = -9; k <= 9; k++)
        {
            float inverseScale = -(maxMagnitude + 0.1f * k) / max;
            double sumXL = 0, sumL2 = 0;
            for (int l = 0; l < count; l++)
            {
                int q = Math.Clamp(Q8_KFormat.NearestInt(inverseScale * values[l]), -maxMagnitude, maxMagnitude - 1);
                sumXL += (double)q * values[l];
                sumL2 += (double)q * q;
            }
            // Squared error of the least-squares scale sumXL / sumL2 is sum(x^2) - sumXL^2 / sumL2.
            double gain = sumL2 > 0 ? sumXL * sumXL / sumL2 : 0;
            if (gain > bestGain)
            {
                bestGain = gain;
                best = sumL2 > 0 ? (float)(sumXL / sumL2) : best;
            }
        }
        return best;
    }

    /// <summary>The nearest of the levels 0..maxLevel for value ~ step * q - offset.</summary>
    private static int Level(float value, float step, float offset, int maxLevel) =>
        step == 0f ? 0 : Math.Clamp(Q8_KFormat.NearestInt((value + offset) / step), 0, maxLevel);

    private static double SubBlockError(float* values, int count, float step, float offset, int maxLevel)
    {
        double error = 0;
        for (int l = 0; l < count; l++)
        {
            double difference = step * Level(values[l], step, offset, maxLevel) - offset - values[l];
            error += difference * difference;
        }
        return error;
    }
}
