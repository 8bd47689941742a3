namespace LlamaDist.Core.Quantization;

/// <summary>
/// A pinned float buffer held in a caller's [ThreadStatic] slot: allocated on first use, replaced by a larger one
/// when a call needs more, never dropped while the thread lives, so steady-state passes allocate nothing (the
/// reason <see cref="ActivationScratch"/> gives for not renting from a pool). Not reentrant per slot.
/// </summary>
internal static class PinnedThreadBuffer
{
    /// <summary>The slot's buffer, at least <paramref name="minimumFloats"/> long.</summary>
    public static float[] Get(ref float[]? slot, int minimumFloats)
    {
        float[]? buffer = slot;
        if (buffer is null || buffer.Length < minimumFloats)
        {
            buffer = GC.AllocateUninitializedArray<float>(minimumFloats, pinned: true);
            slot = buffer;
        }
        return buffer;
    }
}
