using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Pieces shared by the K-quant formats (super-blocks of 256): the scale/min fit of Q4_K and Q5_K and the choice
/// of row kernel for a SIMD level.
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
    /// per 32-element sub-block, scale = (max - min(0, lowest)) / maxLevel and minimum = -min(0, lowest), so
    /// value ~ scale * q - minimum with q in [0, maxLevel]. The 8 scales and 8 minimums become 6-bit levels against
    /// d = largest scale / 63 and dmin = largest minimum / 63 (written as fp16 at block offsets 0 and 2): for each
    /// sub-block the floor and ceiling level of both its scale and its minimum are tried and the pair with the
    /// lowest squared error kept (rounding a small scale down would otherwise clip the top of its range). Each
    /// element gets the nearest level of its sub-block's quantized scale and minimum (ggml's final step too).
    /// </summary>
    public static void QuantizeAsymmetric(float* x, byte* block, Span<byte> levels, Span<byte> scaleLevels,
        Span<byte> minLevels, int maxLevel)
    {
        Span<float> scales = stackalloc float[8];
        Span<float> mins = stackalloc float[8];
        float maxScale = 0f, maxMin = 0f;
        for (int s = 0; s < 8; s++)
        {
            float lowest = 0f, highest = float.NegativeInfinity;
            for (int l = 0; l < 32; l++)
            {
                lowest = MathF.Min(lowest, x[s * 32 + l]);
                highest = MathF.Max(highest, x[s * 32 + l]);
            }
            scales[s] = MathF.Max(0f, (highest - lowest) / maxLevel);
            mins[s] = -lowest;
            maxScale = MathF.Max(maxScale, scales[s]);
            maxMin = MathF.Max(maxMin, mins[s]);
        }
        ushort dBits = F16Format.FromSingle(maxScale / 63f);
        ushort dminBits = F16Format.FromSingle(maxMin / 63f);
        Unsafe.WriteUnaligned(block, dBits);
        Unsafe.WriteUnaligned(block + 2, dminBits);
        float d = F16Format.ToSingle(dBits);
        float dmin = F16Format.ToSingle(dminBits);
        for (int s = 0; s < 8; s++)
        {
            float* values = x + s * 32;
            float scaleRatio = d > 0f ? scales[s] / d : 0f;
            float minRatio = dmin > 0f ? mins[s] / dmin : 0f;
            double bestError = double.PositiveInfinity;
            for (int scaleCandidate = 0; scaleCandidate < 2; scaleCandidate++)
            {
                int ls = Math.Clamp((int)(scaleCandidate == 0 ? MathF.Floor(scaleRatio) : MathF.Ceiling(scaleRatio)), 0, 63);
                for (int minCandidate = 0; minCandidate < 2; minCandidate++)
                {
                    int lm = Math.Clamp((int)(minCandidate == 0 ? MathF.Floor(minRatio) : MathF.Ceiling(minRatio)), 0, 63);
                    double error = SubBlockError(values, d * ls, dmin * lm, maxLevel);
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
            for (int l = 0; l < 32; l++)
            {
                levels[s * 32 + l] = (byte)Level(values[l], step, offset, maxLevel);
            }
        }
    }

    /// <summary>The nearest of the levels 0..maxLevel for value ~ step * q - offset.</summary>
    private static int Level(float value, float step, float offset, int maxLevel) =>
        step == 0f ? 0 : Math.Clamp(Q8_KFormat.NearestInt((value + offset) / step), 0, maxLevel);

    private static double SubBlockError(float* values, float step, float offset, int maxLevel)
    {
        double error = 0;
        for (int l = 0; l < 32; l++)
        {
            double difference = step * Level(values[l], step, offset, maxLevel) - offset - values[l];
            error += difference * difference;
        }
        return error;
    }
}
