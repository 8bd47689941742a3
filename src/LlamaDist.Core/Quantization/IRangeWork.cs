namespace LlamaDist.Core.Quantization;

/// <summary>
/// A piece of parallel work over indices [0, count), run by <see cref="ComputeThreads.For{TWork}(int, TWork)"/>
/// in contiguous sub-ranges. Implement it on a struct (a ref struct may hold spans) so dispatch needs neither a
/// delegate nor a closure allocation. <see cref="Execute"/> runs concurrently on several threads with disjoint
/// ranges; it must only write state owned by its range.
/// </summary>
public interface IRangeWork
{
    /// <summary>Processes indices <paramref name="start"/> (inclusive) to <paramref name="end"/> (exclusive).</summary>
    void Execute(int start, int end);
}
