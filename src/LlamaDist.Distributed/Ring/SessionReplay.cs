namespace LlamaDist.Distributed.Ring;

/// <summary>
/// The steps a sequence has evaluated, token ids and step boundaries, so a sequence that lost a stage can be
/// rebuilt elsewhere: replaying the same steps through a fresh ring writes every layer's KV cache exactly as the
/// first ring did (the same tokens in the same batches: a prompt batch and a single-token decode may round
/// differently, so boundaries are kept, not just tokens), and the next step's output is then bit for bit what
/// the lost ring would have given. Bounded by the session's context: a step beyond it is never recorded.
/// </summary>
public sealed class SessionReplay
{
    private readonly List<int> tokens = [];
    private readonly List<int> steps = [];

    /// <summary>Tokens evaluated so far (the position the next step starts at).</summary>
    public int Position => tokens.Count;

    /// <summary>Every token evaluated so far, in order.</summary>
    public IReadOnlyList<int> Tokens => tokens;

    /// <summary>How many tokens each step carried, in order.</summary>
    public IReadOnlyList<int> Steps => steps;

    /// <summary>Records a step that completed on the ring.</summary>
    public void Record(ReadOnlySpan<int> step)
    {
        if (step.IsEmpty)
        {
            throw new ArgumentException("A step carries at least one token.", nameof(step));
        }
        foreach (var token in step)
        {
            tokens.Add(token);
        }
        steps.Add(step.Length);
    }

    /// <summary>
    /// Evaluates every recorded step again, in order and with the same boundaries, through <paramref name="evaluate"/>
    /// (whose output is discarded: only the KV caches it writes matter). Returns the milliseconds it took.
    /// </summary>
    public double Replay(Action<ReadOnlyMemory<int>> evaluate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(evaluate);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var all = tokens.ToArray();
        int start = 0;
        foreach (var count in steps)
        {
            cancellationToken.ThrowIfCancellationRequested();
            evaluate(all.AsMemory(start, count));
            start += count;
        }
        return clock.Elapsed.TotalMilliseconds;
    }
}
