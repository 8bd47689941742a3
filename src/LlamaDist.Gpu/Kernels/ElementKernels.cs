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
    /// Everything between the Q/K/V products and attention, in one launch: RoPE on the query and key heads (pair i
    /// of every head rotated by the angle whose cos and sin the host computed for token t, table [t, pairs], the
    /// CPU engine's own FillCache values; normal pairs (2i, 2i + 1), NeoX pairs (i, i + pairs)); the query then
    /// scaled (QueryScale, 1 for none) and rounded to half in place, as the F16 kq product sees it; the keys and
    /// values stored into the layer's F16 cache at positions [Position, Position + Tokens). Dimensions past the
    /// rotated ones are scaled/rounded or stored unrotated. Each thread owns whole pairs, so no thread reads what
    /// another writes. Index: Tokens × <see cref="RopeStoreShape.ThreadsPerToken"/>.
    /// </summary>
    public static void RopeStore(Index1D index, ArrayView<float> query, ArrayView<float> key, ArrayView<float> value,
        ArrayView<float> cosines, ArrayView<float> sines, ArrayView<ushort> keyCache, ArrayView<ushort> valueCache, RopeStoreShape shape)
    {
        int perToken = shape.ThreadsPerToken;
        int token = index / perToken;
        int item = index - token * perToken;
        int pairs = shape.Pairs;
        int headDimension = shape.HeadDimension;
        int rest = headDimension - 2 * pairs;
        int queryPairs = shape.QueryHeads * pairs;
        int keyPairs = shape.KvHeads * pairs;
        int queryRest = shape.QueryHeads * rest;
        int keyRest = shape.KvHeads * rest;
        long queryRow = (long)token * shape.QueryHeads * headDimension;
        long keyRow = (long)token * shape.KvWidth;
        long cacheRow = (long)(shape.Position + token) * shape.KvWidth;
        if (item < queryPairs + keyPairs)
        {
            bool isQuery = item < queryPairs;
            int local = isQuery ? item : item - queryPairs;
            int pair = local % pairs;
            int head = local / pairs;
            int first = head * headDimension + (shape.Neox != 0 ? pair : 2 * pair);
            int second = first + (shape.Neox != 0 ? pairs : 1);
            float cos = cosines[token * pairs + pair];
            float sin = sines[token * pairs + pair];
            if (isQuery)
            {
                float x0 = query[queryRow + first];
                float x1 = query[queryRow + second];
                query[queryRow + first] = HalfBits.Round((x0 * cos - x1 * sin) * shape.QueryScale);
                query[queryRow + second] = HalfBits.Round((x0 * sin + x1 * cos) * shape.QueryScale);
            }
            else
            {
                float x0 = key[keyRow + first];
                float x1 = key[keyRow + second];
                keyCache[cacheRow + first] = (ushort)HalfBits.FromSingle(x0 * cos - x1 * sin);
                keyCache[cacheRow + second] = (ushort)HalfBits.FromSingle(x0 * sin + x1 * cos);
            }
            return;
        }
        item -= queryPairs + keyPairs;
        if (item < queryRest + keyRest)
        {
            bool isQuery = item < queryRest;
            int local = isQuery ? item : item - queryRest;
            int column = local / rest * headDimension + 2 * pairs + local % rest;
            if (isQuery)
            {
                query[queryRow + column] = HalfBits.Round(query[queryRow + column] * shape.QueryScale);
            }
            else
            {
                keyCache[cacheRow + column] = (ushort)HalfBits.FromSingle(key[keyRow + column]);
            }
            return;
        }
        item -= queryRest + keyRest;
        valueCache[cacheRow + item] = (ushort)HalfBits.FromSingle(value[keyRow + item]);
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
