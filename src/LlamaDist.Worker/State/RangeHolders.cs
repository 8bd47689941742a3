namespace LlamaDist.Worker.State;

/// <summary>
/// Who holds a hosted range: LoadRange calls not yet matched by ReleaseRange, counted per owner, so a release
/// drops only the caller's own hold and an expired owner's holds go all at once. Guarded by the runtime's
/// bookkeeping lock.
/// </summary>
internal sealed class RangeHolders
{
    private readonly Dictionary<string, int> counts = new(StringComparer.Ordinal);

    public bool IsEmpty => counts.Count == 0;

    public int Total => counts.Values.Sum();

    public void Add(string owner) => counts[owner] = counts.GetValueOrDefault(owner) + 1;

    public bool Holds(string owner) => counts.ContainsKey(owner);

    public int CountOf(string owner) => counts.GetValueOrDefault(owner);

    /// <summary>Drops one of <paramref name="owner"/>'s holds; false when it held none.</summary>
    public bool Release(string owner)
    {
        if (!counts.TryGetValue(owner, out var count))
        {
            return false;
        }
        if (count <= 1)
        {
            counts.Remove(owner);
        }
        else
        {
            counts[owner] = count - 1;
        }
        return true;
    }

    /// <summary>Drops every hold of <paramref name="owner"/>.</summary>
    public bool ReleaseAll(string owner) => counts.Remove(owner);
}
