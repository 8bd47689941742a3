namespace LlamaDist.Worker.State;

/// <summary>
/// The pace of one session's steps on this worker: when the latest arrived and how long before it the one
/// before did. A session decoding steadily comes back once per period; one paused between prompts does not, and
/// after half a period more it is no longer "due". Timestamps are <see cref="System.Diagnostics.Stopwatch"/>
/// ticks. Written by the session's own steps (one at a time), read from any thread.
/// </summary>
internal sealed class StepPace
{
    private long lastArrival;  // 0 before the first step
    private long period;       // 0 before the second step

    /// <summary>Notes a step that arrived at <paramref name="now"/>.</summary>
    public void Mark(long now)
    {
        long previous = Interlocked.Exchange(ref lastArrival, now);
        if (previous != 0)
        {
            Volatile.Write(ref period, Math.Max(1, now - previous));
        }
    }

    /// <summary>
    /// True when the session has a pace (two steps seen) and its next step is due by <paramref name="now"/>: less
    /// than one and a half periods have passed since its latest step arrived.
    /// </summary>
    public bool IsDueBy(long now)
    {
        long pace = Volatile.Read(ref period);
        return pace > 0 && now - Volatile.Read(ref lastArrival) < pace + pace / 2;
    }
}
