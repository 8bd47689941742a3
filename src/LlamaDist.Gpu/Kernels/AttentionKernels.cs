using ILGPU;
using ILGPU.Algorithms;

namespace LlamaDist.Gpu.Kernels;

/// <summary>
/// Causal grouped-query attention over the device-resident F16 KV cache, the CPU engine's steps in its order:
/// kq = K(f16) · Q (Q already rounded to half), soft-capped (gemma2), window-masked (sliding-window layers),
/// scaled, softmaxed; the probabilities rounded to half, then kqv = Σ_p p · V(f16). One group per (token, head):
/// threads share the cached positions for the scores, and (slice of positions, dimension) pairs for the output.
/// The output is rounded to half when an F16 output projection reads it (RoundOutput).
/// Grid: Tokens × HeadCount groups; scores: scratch of [Tokens · HeadCount, ContextSize].
/// </summary>
internal static class AttentionKernels
{
    public static void Attention(ArrayView<float> query, ArrayView<ushort> keyCache, ArrayView<ushort> valueCache,
        ArrayView<float> output, ArrayView<float> scores, AttentionShape shape)
    {
        var shared = SharedMemory.Allocate<float>(GroupReduce.MaxGroupSize);
        int pairIndex = Grid.IdxX;
        int head = pairIndex % shape.HeadCount;
        int token = shape.FirstToken + pairIndex / shape.HeadCount;
        int length = shape.Position + token + 1;
        int headDimension = shape.HeadDimension;
        long queryStart = (long)token * shape.QueryWidth + (long)head * headDimension;
        int kvColumn = head / shape.HeadsPerKvHead * headDimension;
        long scoreStart = (long)pairIndex * shape.ContextSize;
        int masked = shape.Window > 0 && length > shape.Window ? length - shape.Window : 0;

        float localMax = float.NegativeInfinity;
        for (int p = Group.IdxX; p < length; p += Group.DimX)
        {
            float score;
            if (p < masked)
            {
                score = float.NegativeInfinity;
            }
            else
            {
                long keyStart = (long)p * shape.KvWidth + kvColumn;
                // Four partial dots: four independent loads in flight per step instead of one.
                float dot0 = 0f, dot1 = 0f, dot2 = 0f, dot3 = 0f;
                int d = 0;
                for (; d + 3 < headDimension; d += 4)
                {
                    dot0 += HalfBits.ToSingle(keyCache[keyStart + d]) * query[queryStart + d];
                    dot1 += HalfBits.ToSingle(keyCache[keyStart + d + 1]) * query[queryStart + d + 1];
                    dot2 += HalfBits.ToSingle(keyCache[keyStart + d + 2]) * query[queryStart + d + 2];
                    dot3 += HalfBits.ToSingle(keyCache[keyStart + d + 3]) * query[queryStart + d + 3];
                }
                for (; d < headDimension; d++)
                {
                    dot0 += HalfBits.ToSingle(keyCache[keyStart + d]) * query[queryStart + d];
                }
                float dot = (dot0 + dot1) + (dot2 + dot3);
                if (shape.SoftCap > 0f)
                {
                    dot = XMath.Tanh(dot * (1f / shape.SoftCap)) * shape.SoftCap;
                }
                score = dot * shape.Scale;
                localMax = IntrinsicMath.Max(localMax, score);
            }
            scores[scoreStart + p] = score;
        }
        float max = GroupReduce.Max(shared, localMax);

        float localSum = 0f;
        for (int p = Group.IdxX; p < length; p += Group.DimX)
        {
            float score = scores[scoreStart + p];
            float e = score == float.NegativeInfinity ? 0f : XMath.Exp(score - max);
            scores[scoreStart + p] = e;
            localSum += e;
        }
        float inverse = 1f / GroupReduce.Sum(shared, localSum);

        // The probabilities, rounded to half once each (not once per output dimension); the barrier makes every
        // thread's writes visible to the group before the weighted sum reads them all.
        for (int p = Group.IdxX; p < length; p += Group.DimX)
        {
            scores[scoreStart + p] = HalfBits.Round(scores[scoreStart + p] * inverse);
        }
        Group.Barrier();

        if (headDimension <= Group.DimX)
        {
            // The group as slices × headDimension threads: thread (slice, d) sums positions slice, slice + slices, ...
            // of dimension d; the slices' partial sums then meet in shared memory (GroupReduce.Sum above ended with
            // a barrier, so the scratch is free).
            int slices = Group.DimX / headDimension;
            int d = Group.IdxX % headDimension;
            int slice = Group.IdxX / headDimension;
            float accumulator = 0f;
            if (slice < slices)
            {
                for (int p = masked + slice; p < length; p += slices)
                {
                    accumulator += scores[scoreStart + p] * HalfBits.ToSingle(valueCache[(long)p * shape.KvWidth + kvColumn + d]);
                }
            }
            shared[Group.IdxX] = accumulator;
            Group.Barrier();
            if (slice == 0)
            {
                float sum = 0f;
                for (int s = 0; s < slices; s++)
                {
                    sum += shared[s * headDimension + d];
                }
                output[queryStart + d] = shape.RoundOutput != 0 ? HalfBits.Round(sum) : sum;
            }
        }
        else
        {
            for (int d = Group.IdxX; d < headDimension; d += Group.DimX)
            {
                float accumulator = 0f;
                for (int p = masked; p < length; p++)
                {
                    accumulator += scores[scoreStart + p] * HalfBits.ToSingle(valueCache[(long)p * shape.KvWidth + kvColumn + d]);
                }
                output[queryStart + d] = shape.RoundOutput != 0 ? HalfBits.Round(accumulator) : accumulator;
            }
        }
    }
}
