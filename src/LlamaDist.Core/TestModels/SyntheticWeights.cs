namespace LlamaDist.Core.TestModels;

/// <summary>
/// Deterministic pseudo-random weights. Each row gets its own SplitMix64 stream keyed by (seed, tensor name, row),
/// so a row's values never depend on which thread made it or in what order. Values are Irwin–Hall normal-ish
/// (sum of four uniforms, centred and scaled to unit variance, bounded by ±3.46): only IEEE adds and multiplies,
/// no transcendental functions, so every platform and runtime produces the same bits. System.Random is avoided
/// because its algorithm is not guaranteed stable across .NET versions.
/// </summary>
internal static class SyntheticWeights
{
    private const ulong Golden = 0x9E3779B97F4A7C15UL;

    // sqrt(3): the sum of four U(0,1) has variance 1/3; centring and multiplying by sqrt(3) gives variance 1.
    private const float UnitVarianceScale = 1.7320508f;

    /// <summary>A 64-bit key for the tensor name (FNV-1a; string.GetHashCode is randomized per process).</summary>
    public static ulong TensorKey(string tensorName)
    {
        ulong hash = 0xCBF29CE484222325UL;
        foreach (char c in tensorName)
        {
            hash = (hash ^ c) * 0x100000001B3UL;
        }
        return hash;
    }

    /// <summary>Fills <paramref name="row"/> with mean + std * (normal-ish noise).</summary>
    public static void FillRow(Span<float> row, int seed, ulong tensorKey, long rowIndex, float mean, float std)
    {
        ulong state = Mix(Mix((ulong)(uint)seed ^ tensorKey) + (ulong)rowIndex * Golden);
        float scale = std * UnitVarianceScale;
        for (int i = 0; i < row.Length; i++)
        {
            state += Golden;
            ulong bits = Mix(state);
            // Four 16-bit uniforms in (0, 1), from one 64-bit draw.
            float sum = (ushort)bits + (ushort)(bits >> 16) + (ushort)(bits >> 32) + (ushort)(bits >> 48) + 2.0f;
            float centred = sum * (1.0f / 65536.0f) - 2.0f;
            row[i] = mean + centred * scale;
        }
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
