using ILGPU;
using ILGPU.Algorithms;

namespace LlamaDist.Gpu.Kernels;

/// <summary>
/// Causal grouped-query attention over the device-resident F16 KV cache, the CPU engine's steps in its order:
/// kq = K(f16) · Q (Q already rounded to half), soft-capped (gemma2), window-masked (sliding-window layers),
/// scaled, softmaxed; the probabilities rounded to half, then kqv = Σ_p p · V(f16). One group per (token, head):
/// threads share the cached positions for the scores and the head's dimensions for the output.
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
                float dot = 0f;
                for (int d = 0; d < headDimension; d++)
                {
                    dot += HalfBits.ToSingle(keyCache[keyStart + d]) * query[queryStart + d];
                }
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
