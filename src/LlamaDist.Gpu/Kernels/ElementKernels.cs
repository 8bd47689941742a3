using ILGPU;
using ILGPU.Algorithms;

namespace LlamaDist.Gpu.Kernels;

/// <summary>Element-wise and row-wise steps of a block, one thread per element or one group per row.</summary>
internal static class ElementKernels
{
    /// <summary>
    /// destination[r, i] = source[r, i] · (1 / sqrt(mean(source[r]²) + epsilon)) · weight[i], one group per row of
    /// <paramref name="width"/>; <paramref name="source"/> and <paramref name="destination"/> may be the same view.
    /// With <paramref name="add"/> ≠ 0, source[r] += addend[r] first (written back: the residual add before the next
    /// norm, one launch for both); with <paramref name="round"/> ≠ 0 the result is rounded to half (the input of
    /// F16 × F16 products). Each thread re-reads only the elements it wrote itself.
    /// </summary>
    public static void RmsNorm(ArrayView<float> source, ArrayView<float> addend, ArrayView<float> weight,
        ArrayView<float> destination, int width, float epsilon, int add, int round)
    {
        var shared = SharedMemory.Allocate<float>(GroupReduce.MaxGroupSize);
        long start = (long)Grid.IdxX * width;
        float squares = 0f;
        for (int i = Group.IdxX; i < width; i += Group.DimX)
        {
            float value = source[start + i];
            if (add != 0)
            {
                value += addend[start + i];
                source[start + i] = value;
            }
            squares += value * value;
        }
        float sum = GroupReduce.Sum(shared, squares);
        float scale = 1f / XMath.Sqrt(sum / width + epsilon);
        for (int i = Group.IdxX; i < width; i += Group.DimX)
        {
            float value = source[start + i] * scale * weight[i];
            destination[start + i] = round != 0 ? HalfBits.Round(value) : value;
        }
    }

    /// <summary>target[i] += addend[i].</summary>
    public static void Add(Index1D index, ArrayView<float> target, ArrayView<float> addend) => target[index] += addend[index];

    /// <summary>rows[t, i] += bias[i] for rows of bias's width.</summary>
    public static void AddBias(Index1D index, ArrayView<float> rows, ArrayView<float> bias, int width) =>
        rows[index] += bias[index % width];

    /// <summary>values[i] *= factor.</summary>
    public static void Scale(Index1D index, ArrayView<float> values, float factor) => values[index] *= factor;

    /// <summary>values[i] = cap · tanh(values[i] / cap) (gemma2's final logit soft-capping).</summary>
    public static void SoftCap(Index1D index, ArrayView<float> values, float cap) =>
        values[index] = XMath.Tanh(values[index] * (1f / cap)) * cap;

    /// <summary>destination[i] = (float)(half)source[i]: the activations an F16 × F16 product sees.</summary>
    public static void RoundToHalf(Index1D index, ArrayView<float> source, ArrayView<float> destination) =>
        destination[index] = HalfBits.Round(source[index]);

    /// <summary>gate[i] = silu(gate[i]) · up[i] (SwiGLU), rounded to half when <paramref name="round"/> ≠ 0 (an F16 down projection's input).</summary>
    public static void SwiGlu(Index1D index, ArrayView<float> gate, ArrayView<float> up, int round)
    {
        float g = gate[index];
        float value = g / (1f + XMath.Exp(-g)) * up[index];
        gate[index] = round != 0 ? HalfBits.Round(value) : value;
    }

    /// <summary>
    /// Copies columns [sourceColumn, sourceColumn + width) of rows [t, sourceStride] to rows [t, width]: splits a
    /// fused product (phi3's QKV, gate/up) into its parts. Index: tokens × width.
    /// </summary>
    public static void CopyColumns(Index1D index, ArrayView<float> source, int sourceStride, int sourceColumn,
        ArrayView<float> destination, int width)
    {
        int token = index / width;
        int column = index - token * width;
        destination[index] = source[(long)token * sourceStride + sourceColumn + column];
    }

    /// <summary>
    /// RoPE on the query rows [t, queryHeads · headDimension] and the key rows [t, kvHeads · headDimension] in one
    /// launch: pair i of every head rotated by the angle whose cos and sin the host computed for token t (table
    /// [t, pairs], the CPU engine's own FillCache values). Normal pairs (2i, 2i + 1), NeoX pairs (i, i + pairs).
    /// Index: tokens × (queryHeads + kvHeads) × pairs, the query's tokens × queryHeads × pairs first.
    /// </summary>
    public static void Rope(Index1D index, ArrayView<float> query, ArrayView<float> key, ArrayView<float> cosines,
        ArrayView<float> sines, int queryHeads, int kvHeads, int headDimension, int pairs, int neox, int tokens)
    {
        int queryThreads = tokens * queryHeads * pairs;
        if (index < queryThreads)
        {
            RotatePair(index, query, cosines, sines, queryHeads, headDimension, pairs, neox);
        }
        else
        {
            RotatePair(index - queryThreads, key, cosines, sines, kvHeads, headDimension, pairs, neox);
        }
    }

    private static void RotatePair(int index, ArrayView<float> rows, ArrayView<float> cosines, ArrayView<float> sines,
        int headCount, int headDimension, int pairs, int neox)
    {
        int pair = index % pairs;
        int rest = index / pairs;
        int head = rest % headCount;
        int token = rest / headCount;
        long start = (long)token * headCount * headDimension + (long)head * headDimension;
        int first = neox != 0 ? pair : 2 * pair;
        int partner = neox != 0 ? pairs : 1;
        float x0 = rows[start + first];
        float x1 = rows[start + first + partner];
        float cos = cosines[token * pairs + pair];
        float sin = sines[token * pairs + pair];
        rows[start + first] = x0 * cos - x1 * sin;
        rows[start + first + partner] = x0 * sin + x1 * cos;
    }

    /// <summary>
    /// Stores the micro-batch's keys and values [tokens, kvWidth] into the layer's F16 cache at positions
    /// [position, position + tokens), both as [ContextSize, kvWidth] rows, and rounds the query [tokens, queryWidth]
    /// to half in place (as the F16 kq product sees it): one launch. Index: tokens × max(kvWidth, queryWidth).
    /// </summary>
    public static void StoreKeyValue(Index1D index, ArrayView<float> keys, ArrayView<float> values,
        ArrayView<ushort> keyCache, ArrayView<ushort> valueCache, int position, int kvWidth,
        ArrayView<float> query, int queryWidth, int tokens)
    {
        if (index < tokens * kvWidth)
        {
            long target = (long)position * kvWidth + index;
            keyCache[target] = (ushort)HalfBits.FromSingle(keys[index]);
            valueCache[target] = (ushort)HalfBits.FromSingle(values[index]);
        }
        if (index < tokens * queryWidth)
        {
            query[index] = HalfBits.Round(query[index]);
        }
    }

    /// <summary>
    /// result[0] = the index of the largest of values[0 .. count) (the lowest index among equals, as the CPU's
    /// ArgMax). One group.
    /// </summary>
    public static void ArgMax(ArrayView<float> values, int count, ArrayView<int> result)
    {
        var bestValues = SharedMemory.Allocate<float>(GroupReduce.MaxGroupSize);
        var bestIndices = SharedMemory.Allocate<int>(GroupReduce.MaxGroupSize);
        int lane = Group.IdxX;
        float best = float.NegativeInfinity;
        int bestIndex = int.MaxValue;
        for (int i = lane; i < count; i += Group.DimX)
        {
            float value = values[i];
            if (value > best)
            {
                best = value;
                bestIndex = i;
            }
        }
        bestValues[lane] = best;
        bestIndices[lane] = bestIndex;
        Group.Barrier();
        for (int stride = Group.DimX / 2; stride > 0; stride >>= 1)
        {
            if (lane < stride)
            {
                float other = bestValues[lane + stride];
                int otherIndex = bestIndices[lane + stride];
                if (other > bestValues[lane] || (other == bestValues[lane] && otherIndex < bestIndices[lane]))
                {
                    bestValues[lane] = other;
                    bestIndices[lane] = otherIndex;
                }
            }
            Group.Barrier();
        }
        if (lane == 0)
        {
            result[0] = bestIndices[0] == int.MaxValue ? 0 : bestIndices[0];
        }
    }
}
