namespace LlamaDist.Core.Model.Tensor;

/// <summary>
/// The all-reduce between shards that run in one process, one thread each: every shard posts its partial, then
/// every shard adds all posted partials in shard order (0, 1, …), so each gets bit-identical sums. Used to run
/// and test the tensor-parallel forward pass without a network; a shard that does not arrive within
/// <see cref="Timeout"/> fails the others with <see cref="TimeoutException"/> instead of hanging them.
/// </summary>
public sealed class LocalTensorGroup : IDisposable
{
    private readonly Barrier _barrier;
    private readonly float[][] _posted;

    public LocalTensorGroup(int shardCount, int embeddingLength, int maxTokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(shardCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(embeddingLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxTokens);
        _barrier = new Barrier(shardCount);
        _posted = new float[shardCount][];
        for (int i = 0; i < shardCount; i++)
        {
            _posted[i] = new float[(long)embeddingLength * maxTokens];
        }
    }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The reduction shard <paramref name="shard"/> passes to its forward pass.</summary>
    public ITensorReduction For(int shard)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(shard, _posted.Length);
        return new Member(this, shard);
    }

    public void Dispose() => _barrier.Dispose();

    private void Sum(int shard, Span<float> partial)
    {
        if (partial.Length > _posted[shard].Length)
        {
            throw new ArgumentException($"{partial.Length} values exceed the group's {_posted[shard].Length}.", nameof(partial));
        }
        partial.CopyTo(_posted[shard]);
        Wait();
        _posted[0].AsSpan(0, partial.Length).CopyTo(partial);
        for (int other = 1; other < _posted.Length; other++)
        {
            Numerics.VectorMath.Add(partial, _posted[other].AsSpan(0, partial.Length));
        }
        Wait(); // nobody posts the next partial before everyone has read this one
    }

    private void Wait()
    {
        if (!_barrier.SignalAndWait(Timeout))
        {
            throw new TimeoutException($"A tensor-parallel shard did not reach the reduction within {Timeout.TotalSeconds:0} s.");
        }
    }

    private sealed class Member(LocalTensorGroup group, int shard) : ITensorReduction
    {
        public void Sum(Span<float> partial, int tokens) => group.Sum(shard, partial);
    }
}
