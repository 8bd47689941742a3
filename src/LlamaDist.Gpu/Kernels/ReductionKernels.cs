using ILGPU;

namespace LlamaDist.Gpu.Kernels;

/// <summary>
/// Group-wide reductions over shared memory (a power-of-two group of up to <see cref="MaxGroupSize"/> threads),
/// written without warp intrinsics so the same code runs on CUDA, OpenCL and the CPU accelerator.
/// </summary>
internal static class GroupReduce
{
    public const int MaxGroupSize = 512;

    /// <summary>Every thread of the group gets the sum of <paramref name="value"/> over the group.</summary>
    public static float Sum(ArrayView<float> shared, float value)
    {
        int lane = Group.IdxX;
        shared[lane] = value;
        Group.Barrier();
        for (int stride = Group.DimX / 2; stride > 0; stride >>= 1)
        {
            if (lane < stride)
            {
                shared[lane] += shared[lane + stride];
            }
            Group.Barrier();
        }
        float result = shared[0];
        Group.Barrier();
        return result;
    }

    /// <summary>Every thread of the group gets the maximum of <paramref name="value"/> over the group.</summary>
    public static float Max(ArrayView<float> shared, float value)
    {
        int lane = Group.IdxX;
        shared[lane] = value;
        Group.Barrier();
        for (int stride = Group.DimX / 2; stride > 0; stride >>= 1)
        {
            if (lane < stride)
            {
                shared[lane] = IntrinsicMath.Max(shared[lane], shared[lane + stride]);
            }
            Group.Barrier();
        }
        float result = shared[0];
        Group.Barrier();
        return result;
    }
}
