using LlamaDist.Engine.Generation;

namespace LlamaDist.Engine.Cluster;

/// <summary>
/// Passes a cluster sequence through and, when it ends, records each node's time per step (compute plus network)
/// on the cluster's nodes, beside what the planner predicted (Get-LlamaCluster shows both). A node is matched by
/// endpoint and layers, so after a failover only the nodes still running their planned layers are updated.
/// </summary>
internal sealed class ObservedSequence(IGenerationSequence inner, IReadOnlyList<ClusterNode> nodes) : IGenerationSequence, IFailoverSource
{
    /// <summary>The sequence observed (tests look at its ring).</summary>
    internal IGenerationSequence Inner => inner;

    public int Position => inner.Position;

    public IReadOnlyList<StageStatistics> Stages => inner.Stages;

    public IReadOnlyList<FailoverRecord> Failovers => inner is IFailoverSource source ? source.Failovers : [];

    public void Evaluate(ReadOnlySpan<int> tokens, Span<float> logits) => inner.Evaluate(tokens, logits);

    public int EvaluateGreedy(ReadOnlySpan<int> tokens) => inner.EvaluateGreedy(tokens);

    public void Dispose()
    {
        foreach (var node in nodes)
        {
            var stage = inner.Stages.FirstOrDefault(stage => stage.Endpoint == node.Endpoint && stage.Layers == node.Layers);
            if (stage is { Steps: > 0 })
            {
                node.ObservedMsPerToken = (stage.ComputeMs + stage.NetworkMs) / stage.Steps;
            }
        }
        inner.Dispose();
    }
}
