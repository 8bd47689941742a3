namespace LlamaDist.Worker.State;

/// <summary>
/// When each coordinator (owner id) last showed it is alive. Every owner call renews; an owner silent for
/// longer than the lease has expired, and the runtime then frees what it held. The empty id is the shared owner
/// of callers that send none.
/// </summary>
internal sealed class LeaseTable
{
    /// <summary>Longest owner id accepted (a GUID is 32-36 characters).</summary>
    public const int MaxOwnerLength = 128;

    private readonly object sync = new();
    private readonly Dictionary<string, DateTime> renewed = new(StringComparer.Ordinal);
    private readonly Func<DateTime> clock;

    public LeaseTable(TimeSpan lease, Func<DateTime>? clock = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lease, TimeSpan.Zero);
        Lease = lease;
        this.clock = clock ?? (() => DateTime.UtcNow);
    }

    public TimeSpan Lease { get; }

    /// <summary>Checks an owner id from the wire (throws ArgumentException naming the limit, echoing nothing).</summary>
    public static string Validate(string? owner)
    {
        owner ??= "";
        if (owner.Length > MaxOwnerLength || owner.Any(char.IsControl))
        {
            throw new ArgumentException($"owner_id must be at most {MaxOwnerLength} printable characters.");
        }
        return owner;
    }

    public void Renew(string owner)
    {
        lock (sync)
        {
            renewed[owner] = clock();
        }
    }

    /// <summary>Removes and returns the owners whose lease ran out.</summary>
    public IReadOnlyList<string> TakeExpired()
    {
        var limit = clock() - Lease;
        lock (sync)
        {
            var expired = renewed.Where(entry => entry.Value < limit).Select(entry => entry.Key).ToList();
            expired.ForEach(owner => renewed.Remove(owner));
            return expired;
        }
    }
}
