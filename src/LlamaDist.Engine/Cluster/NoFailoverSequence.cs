using LlamaDist.Distributed.Client;
using LlamaDist.Engine.Generation;

namespace LlamaDist.Engine.Cluster;

/// <summary>
/// A split that cannot fail over (tensor-parallel and hybrid groups: every node holds a slice of every layer):
/// a node that becomes unreachable ends the prompt, and the error names that node and keeps the tokens evaluated
/// so far, so the caller gets the partial result a ring without failover gives (<see cref="PartialResults"/>).
/// </summary>
internal sealed class NoFailoverSequence(IGenerationSequence inner) : IGenerationSequence
{
    /// <summary>Every token evaluated, the prompt's first: [Position] ids.</summary>
    private readonly List<int> evaluated = [];

    public int Position => inner.Position;

    public IReadOnlyList<StageStatistics> Stages => inner.Stages;

    public void Evaluate(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        try
        {
            inner.Evaluate(tokens, logits);
        }
        catch (WorkerCallException exception) when (exception.Failure == WorkerFailure.Unreachable)
        {
            throw Exhausted(exception, tokens);
        }
        evaluated.AddRange(tokens);
    }

    public int EvaluateGreedy(ReadOnlySpan<int> tokens)
    {
        int token;
        try
        {
            token = inner.EvaluateGreedy(tokens);
        }
        catch (WorkerCallException exception) when (exception.Failure == WorkerFailure.Unreachable)
        {
            throw Exhausted(exception, tokens);
        }
        evaluated.AddRange(tokens);
        return token;
    }

    /// <summary>The failed step's tokens count as evaluated: the last of a decode step was already generated.</summary>
    private FailoverExhaustedException Exhausted(WorkerCallException exception, ReadOnlySpan<int> step) =>
        new(exception.Endpoint, $"{exception.Message} The prompt cannot continue (a tensor-parallel split has no failover).",
            [.. evaluated, .. step], [], exception);

    public void Dispose() => inner.Dispose();
}
