using LlamaDist.Engine.Generation;

namespace LlamaDist.Engine.Cluster;

/// <summary>
/// Passes a cluster sequence through and, when it ends, records each node's time per step (compute plus network)
/// on the cluster's nodes, beside what the planner predicted (Get-LlamaCluster shows both).
/// </summary>
internal sealed class ObservedSequence(IGenerationSequence inner, IReadOnlyList<ClusterNode> nodes) : IGenerationSequence
{
    public int Position => inner.Position;

    public IReadOnlyList<StageStatistics> Stages => inner.Stages;

    public void Evaluate(ReadOnlySpan<int> tokens, Span<float> logits) => inner.Evaluate(tokens, logits);

    public int EvaluateGreedy(ReadOnlySpan<int> tokens) => inner.EvaluateGreedy(tokens);

    public void Dispose()
    {
        var stages = inner.Stages;
        for (int i = 0; i < stages.Count && i < nodes.Count; i++)
        {
            if (stages[i].Steps > 0)
            {
                nodes[i].ObservedMsPerToken = (stages[i].ComputeMs + stages[i].NetworkMs) / stages[i].Steps;
            }
        }
        inner.Dispose();
    }
}
