using LlamaDist.Core.Backends;
using LlamaDist.Distributed.Ring;
using LlamaDist.Engine.Generation;

namespace LlamaDist.Engine.Cluster;

/// <summary>One prompt's ring session, with per-node figures accumulated from each step's stage timings.</summary>
internal sealed class ClusterSequence : IGenerationSequence
{
    private readonly RingSession ring;
    private readonly IForwardSession? localSession;
    private readonly StageStatistics[] stages;
    private readonly int hops;

    public ClusterSequence(RingSession ring, IForwardSession? localSession, IReadOnlyList<ClusterNode> nodes)
    {
        this.ring = ring;
        this.localSession = localSession;
        // Coordinator → … → coordinator: one hop into every remote node, plus the way back.
        hops = nodes.Count + (localSession is null ? 1 : 0);
        stages = nodes.Select(node => new StageStatistics
        {
            Endpoint = node.Endpoint,
            WorkerId = node.WorkerId,
            LayerStart = node.LayerStart,
            LayerEnd = node.LayerEnd,
            Layers = node.Layers,
        }).ToArray();
    }

    public int Position => ring.Position;

    public IReadOnlyList<StageStatistics> Stages => stages;

    /// <summary>Messages the coordinator sent into the ring: one per step, or one per micro-batch of a pipelined prompt.</summary>
    public int MicroBatches { get; private set; }

    public void Evaluate(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        var result = ring.Step(tokens, RingOutput.LastLogits, CancellationToken.None);
        result.Logits.AsSpan(0, logits.Length).CopyTo(logits);
        Record(result);
    }

    public int EvaluateGreedy(ReadOnlySpan<int> tokens)
    {
        var result = ring.Step(tokens, RingOutput.GreedyToken, CancellationToken.None);
        Record(result);
        return result.GreedyToken;
    }

    /// <summary>
    /// Step timings arrive in ring order, one per stage. Each node received the previous one's message and sent
    /// its own to the next (the last one's reply to the coordinator); the time beyond compute is shared by hops.
    /// </summary>
    private void Record(RingStepResult result)
    {
        MicroBatches += result.MicroBatches;
        double computeMs = 0;
        for (int i = 0; i < stages.Length && i < result.Stages.Count; i++)
        {
            var timing = result.Stages[i];
            var stage = stages[i];
            double ms = timing.ComputeMicroseconds / 1000.0;
            computeMs += ms;
            stage.ComputeMs += ms;
            stage.Steps++;
            stage.BytesReceived += (long)timing.BytesReceived;
            stage.BytesSent += i + 1 < result.Stages.Count ? (long)result.Stages[i + 1].BytesReceived : result.BytesReceived;
        }
        double perHop = Math.Max(0, result.WallMilliseconds - computeMs) / hops;
        for (int i = 0; i < stages.Length; i++)
        {
            bool isLocal = localSession is not null && i == 0;
            stages[i].NetworkMs += isLocal ? 0 : perHop * (i == stages.Length - 1 ? 2 : 1);
        }
    }

    public void Dispose()
    {
        ring.Dispose();
        localSession?.Dispose();
    }
}
