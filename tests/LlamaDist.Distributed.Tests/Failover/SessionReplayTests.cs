using LlamaDist.Distributed.Ring;

namespace LlamaDist.Distributed.Tests.Failover;

/// <summary>Replaying a session's steps onto a fresh evaluator: same tokens, same boundaries, same order.</summary>
public sealed class SessionReplayTests
{
    /// <summary>An in-process stand-in for a ring: a "KV cache" that hashes every step it sees, boundaries included.</summary>
    private sealed class FakeSequence
    {
        public List<int> Cache { get; } = [];
        public List<int> Boundaries { get; } = [];

        public int Step(ReadOnlySpan<int> tokens)
        {
            Cache.AddRange(tokens.ToArray());
            Boundaries.Add(tokens.Length);
            return Cache.Aggregate(17, (hash, token) => hash * 31 + token) ^ Boundaries.Count;
        }
    }

    [Fact]
    public void Replay_RebuildsTheSameStateSoTheNextStepAnswersTheSame()
    {
        var replay = new SessionReplay();
        var lost = new FakeSequence();
        int[][] steps = [[1, 2, 3, 4, 5], [6, 7], [8], [9], [10]];
        foreach (var step in steps)
        {
            lost.Step(step);
            replay.Record(step);
        }
        int expected = lost.Step([11]);

        var rebuilt = new FakeSequence();
        double ms = replay.Replay(step => rebuilt.Step(step.Span), CancellationToken.None);
        Assert.True(ms >= 0);
        Assert.Equal(Enumerable.Range(1, 10), rebuilt.Cache);
        Assert.Equal([5, 2, 1, 1, 1], rebuilt.Boundaries);
        Assert.Equal(10, replay.Position);
        Assert.Equal(expected, rebuilt.Step([11]));
    }

    [Fact]
    public void Replay_StopsWhenCancelled()
    {
        var replay = new SessionReplay();
        replay.Record([1]);
        replay.Record([2]);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        int calls = 0;
        Assert.Throws<OperationCanceledException>(() => replay.Replay(_ => calls++, cancelled.Token));
        Assert.Equal(0, calls);
    }

    [Fact]
    public void Record_RefusesAnEmptyStep()
    {
        Assert.Throws<ArgumentException>(() => new SessionReplay().Record([]));
    }
}
