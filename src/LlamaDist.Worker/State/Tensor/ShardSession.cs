using LlamaDist.Core.Model;
using LlamaDist.Core.Model.Tensor;

namespace LlamaDist.Worker.State.Tensor;

/// <summary>
/// One sequence on one shard: the KV cache of the shard's heads, the forward pass with its peer reduction, and
/// the lock that keeps a step and a close from overlapping. A step that fails part-way (a peer gone) leaves the
/// shards' caches out of step with each other, so the session is then <see cref="Broken"/> for good.
/// </summary>
internal sealed class ShardSession : IDisposable
{
    public ShardSession(string id, string owner, HostedShard shard, LlamaSession session, TensorShardForward forward, PeerReduction reduction)
    {
        Id = id;
        Owner = owner;
        Shard = shard;
        Session = session;
        Forward = forward;
        Reduction = reduction;
    }

    public string Id { get; }

    public string Owner { get; }

    public HostedShard Shard { get; }

    public LlamaSession Session { get; }

    public TensorShardForward Forward { get; }

    public PeerReduction Reduction { get; }

    /// <summary>Held while a step evaluates.</summary>
    public object StepLock { get; } = new();

    public DateTime LastUsedUtc { get; set; } = DateTime.UtcNow;

    /// <summary>Set when a step failed after it started evaluating; later steps are refused.</summary>
    public string? Broken { get; set; }

    public long KvCacheBytes => Session.KvCacheBytes;

    public void Dispose()
    {
        Reduction.Dispose();
        lock (StepLock)
        {
            Session.Dispose();
        }
    }
}
