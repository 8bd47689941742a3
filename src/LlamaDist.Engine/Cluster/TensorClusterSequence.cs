using LlamaDist.Distributed.Tensor;
using LlamaDist.Engine.Generation;

namespace LlamaDist.Engine.Cluster;

/// <summary>
/// One prompt on a tensor-parallel group, with per-shard figures: compute is the shard's own evaluation, network
/// the time it waited for and summed its peers' partials plus its share of the step's time beyond the slowest
/// shard's work (the coordinator's messages to and from it); bytes are its partial sums and the step and reply
/// messages.
/// </summary>
internal sealed class TensorClusterSequence : IGenerationSequence
{
    private readonly TensorGroupSession session;
    private readonly StageStatistics[] stages;

    public TensorClusterSequence(TensorGroupSession session, IReadOnlyList<ClusterNode> nodes)
    {
        this.session = session;
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

    private void Record(ShardStepFigures[] figures, double wallMs)
    {
        double busiest = figures.Max(figure => figure.ComputeMs + figure.ReduceMs);
        double coordinatorMs = Math.Max(0, wallMs - busiest);
        for (int i = 0; i < stages.Length && i < figures.Length; i++)
        {
            var stage = stages[i];
            stage.ComputeMs += figures[i].ComputeMs;
            stage.NetworkMs += figures[i].ReduceMs + coordinatorMs;
            stage.BytesSent += figures[i].PartialBytesSent + figures[i].ReplyBytes;
            stage.BytesReceived += figures[i].PartialBytesReceived + figures[i].StepBytes;
            stage.Steps++;
        }
    }

    public void Dispose() => session.Dispose();
}
