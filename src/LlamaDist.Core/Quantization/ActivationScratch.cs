namespace LlamaDist.Core.Quantization;

/// <summary>
/// One pinned byte buffer per calling thread for the activations a matrix pass converts to the weights' partner
/// type (Q8_0, Q8_1, Q8_K or the tile layouts), sized n x activation row bytes + 64 for alignment.
/// <para>Why not <c>ArrayPool.Shared</c>: a gen-2 collection under memory pressure empties its caches, and the
/// next rent after that allocates, so a decoded token could allocate now and then. This buffer only grows (to
/// the largest batch this thread has converted) and is never dropped while the thread lives, so steady-state
/// decoding allocates nothing. Not reentrant: a matrix pass takes it once and never starts another pass inside.</para>
/// </summary>
internal static class ActivationScratch
{
    [ThreadStatic]
    private static byte[]? t_buffer;

    /// <summary>The calling thread's buffer, at least <paramref name="minimumBytes"/> long and pinned.</summary>
    public static byte[] Get(int minimumBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minimumBytes);
        byte[]? buffer = t_buffer;
        if (buffer is null || buffer.Length < minimumBytes)
        {
            // Doubling keeps a prompt whose batches grow from reallocating on every batch.
            long grown = Math.Min(Array.MaxLength, 2L * (buffer?.Length ?? 0));
            buffer = GC.AllocateUninitializedArray<byte>((int)Math.Max(minimumBytes, grown), pinned: true);
            t_buffer = buffer;
        }
        return buffer;
    }
}
