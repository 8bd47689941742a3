using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LlamaDist.Core.Model;

/// <summary>
/// An array on the pinned object heap with its address cached: the forward pass hands raw pointers to the
/// kernels and to worker threads without fixed blocks, and the GC never moves the data.
/// </summary>
internal sealed unsafe class PinnedArray<T> where T : unmanaged
{
    private readonly T[] _array;

    /// <param name="zeroed">False skips clearing: for buffers every reader only reads after writing (KV cache).</param>
    public PinnedArray(long length, string purpose, bool zeroed = true)
    {
        if (length <= 0 || length > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length,
                $"The {purpose} would need {length} elements; one buffer holds at most {Array.MaxLength}. " +
                "Use a smaller context or batch size.");
        }
        _array = zeroed
            ? GC.AllocateArray<T>((int)length, pinned: true)
            : GC.AllocateUninitializedArray<T>((int)length, pinned: true);
        Pointer = (T*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_array));
    }

    /// <summary>Address of element 0; valid as long as this object is reachable.</summary>
    public T* Pointer { get; }

    public int Length => _array.Length;

    public Span<T> AsSpan(int start, int length) => _array.AsSpan(start, length);
}
