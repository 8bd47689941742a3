using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

namespace LlamaDist.Gpu.Kernels;

/// <summary>
/// The candidates a top-k sampler needs from one row of logits, selected on the device so that a few hundred
/// (id, logit) pairs cross the bus instead of the vocabulary's logits: every logit at least as large as the
/// <c>wanted</c>-th largest (ties at that value all come along, so the caller's own order decides among them),
/// then the logits of <c>extraIds</c> (the repeat penalty's recent tokens) after them.
/// One group: a radix select finds the wanted-th largest's order-preserving key 8 bits at a time (four passes of a
/// 256-bin histogram in shared memory), then every thread appends its logits at or above it through a shared
/// counter; <c>count[0]</c> = pairs written. The output holds at least the vocabulary plus the extra ids, so every
/// selected pair fits. Grid: 1 group of any power-of-two size.
/// </summary>
internal static class CandidateKernels
{
    public static void TopCandidates(ArrayView<float> logits, int vocabulary, int wanted, ArrayView<int> extraIds, int extraCount,
        ArrayView<int> ids, ArrayView<float> values, ArrayView<int> count)
    {
        var histogram = SharedMemory.Allocate<int>(256);
        // [0]: the selected key's bits so far, [1]: how many of the wanted are still to find below them, [2]: pairs written.
        var state = SharedMemory.Allocate<int>(3);
        int thread = Group.IdxX;
        if (thread == 0)
        {
            state[0] = 0;
            state[1] = wanted;
            state[2] = 0;
        }
        uint prefix = 0u;
        uint mask = 0u;
        for (int shift = 24; shift >= 0; shift -= 8)
        {
            for (int bin = thread; bin < 256; bin += Group.DimX)
            {
                histogram[bin] = 0;
            }
            Group.Barrier();
            for (int i = thread; i < vocabulary; i += Group.DimX)
            {
                uint key = OrderedKey(logits[i]);
                if ((key & mask) == prefix)
                {
                    Atomic.Add(ref histogram[(int)((key >> shift) & 255u)], 1);
                }
            }
            Group.Barrier();
            if (thread == 0)
            {
                // From the largest bin down: the bin where the remaining count is reached holds the wanted-th key.
                int remaining = state[1];
                int bin = 255;
                for (; bin > 0; bin--)
                {
                    int inBin = histogram[bin];
                    if (inBin >= remaining)
                    {
                        break;
                    }
                    remaining -= inBin;
                }
                state[0] = (int)(prefix | ((uint)bin << shift));
                state[1] = remaining;
            }
            Group.Barrier();
            prefix = (uint)state[0];
            mask |= 255u << shift;
        }

        for (int i = thread; i < vocabulary; i += Group.DimX)
        {
            float value = logits[i];
            if (OrderedKey(value) >= prefix)
            {
                int slot = Atomic.Add(ref state[2], 1);
                ids[slot] = i;
                values[slot] = value;
            }
        }
        Group.Barrier();
        int written = state[2];
        for (int j = thread; j < extraCount; j += Group.DimX)
        {
            int id = extraIds[j];
            ids[written + j] = id;
            values[written + j] = logits[id];
        }
        if (thread == 0)
        {
            count[0] = written + extraCount;
        }
    }

    /// <summary>
    /// An unsigned key ordered as the floats are (negative values' bits inverted, positive values' sign bit set);
    /// -0 counts as +0, as the comparisons of the sampler do.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint OrderedKey(float value)
    {
        uint bits = Interop.FloatAsInt(value);
        if (bits == 0x80000000u)
        {
            bits = 0u;
        }
        return (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
    }
}
