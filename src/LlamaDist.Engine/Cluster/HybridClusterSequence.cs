using LlamaDist.Distributed.Tensor;
using LlamaDist.Engine.Generation;

namespace LlamaDist.Engine.Cluster;

/// <summary>
/// One prompt on a hybrid split, with per-shard figures in group order: compute is the shard's own evaluation,
/// network the time it waited for and summed its group's partials plus an equal share, per group, of the step's
/// time beyond the groups' slowest members (the coordinator's messages and the hidden states relayed between
/// groups); bytes are its partial sums and its step and reply messages (hidden states included).
/// </summary>
internal sealed class HybridClusterSequence : IGenerationSequence
{
    private readonly HybridSession session;
    private readonly int[] groupSizes;
    private readonly StageStatistics[] stages;

    public HybridClusterSequence(HybridSession session, IReadOnlyList<int> groupSizes, IReadOnlyList<ClusterNode> nodes)
    {
        this.session = session;
        this.groupSizes = [.. groupSizes];
        stages = nodes.Select(node => node.NewStatistics()).ToArray();
    }

    public int Position => session.Position;

    public IReadOnlyList<StageStatistics> Stages => stages;

    public void Evaluate(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var figures = session.Evaluate(tokens, logits);
        Record(figures, clock.Elapsed.TotalMilliseconds);
    }

    public int EvaluateGreedy(ReadOnlySpan<int> tokens)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (token, figures) = session.EvaluateGreedy(tokens);
        Record(figures, clock.Elapsed.TotalMilliseconds);
        return token;
    }

    private void Record(ShardStepFigures[][] figures, double wallMs)
    {
        double busiest = figures.Sum(group => group.Length == 0 ? 0 : group.Max(figure => figure.ComputeMs + figure.ReduceMs));
        double relayMs = Math.Max(0, wallMs - busiest) / Math.Max(1, figures.Length);
        int node = 0;
        for (int g = 0; g < figures.Length && g < groupSizes.Length; g++)
        {
            for (int i = 0; i < groupSizes[g] && i < figures[g].Length && node < stages.Length; i++, node++)
            {
                var stage = stages[node];
                var figure = figures[g][i];
                stage.ComputeMs += figure.ComputeMs;
                stage.NetworkMs += figure.ReduceMs + relayMs;
                stage.BytesSent += figure.PartialBytesSent + figure.ReplyBytes;
                stage.BytesReceived += figure.PartialBytesReceived + figure.StepBytes;
                stage.Steps++;
            }
        }
    }

    public void Dispose() => session.Dispose();
}
