using LlamaDist.Core.Backends;
using LlamaDist.Core.Numerics;
using LlamaDist.Gpu;

namespace LlamaDist.Engine.Generation;

/// <summary>A sequence whose every layer runs in this process: one session over the whole model, evaluated through the model's <see cref="LocalBatcher"/>.</summary>
internal sealed class LocalSequence : IGenerationSequence
{
    private readonly LocalBatcher compute;
    private readonly IForwardSession session;
    private readonly float[] logits;
    private bool disposed;

    /// <param name="compute">The model's compute, shared with the other sequences running on it at the same time.</param>
    public LocalSequence(LocalBatcher compute, int contextSize, int batchSize)
    {
        this.compute = compute;
        session = compute.Forward.CreateSession(contextSize, batchSize);
        logits = new float[compute.Forward.Config.VocabularySize];
        compute.Join();
    }

    public int Position => session.Position;

    public IReadOnlyList<StageStatistics> Stages => [];

    public void Evaluate(ReadOnlySpan<int> tokens, Span<float> output)
    {
        compute.Evaluate(session, tokens, logits);
        logits.AsSpan(0, output.Length).CopyTo(output);
    }

    public int EvaluateGreedy(ReadOnlySpan<int> tokens)
    {
        if (compute.Forward is IlgpuRangeForward device)
        {
            // Picked on the device: only the token id crosses the bus.
            var ids = tokens.ToArray();
            return compute.RunExclusive(() => device.EvaluateGreedy(session, ids));
        }
        compute.Evaluate(session, tokens, logits);
        return VectorMath.ArgMax(logits);
    }

    public void Dispose()
    {
        if (!disposed)
        {
            disposed = true;
            compute.Leave();
            session.Dispose();
        }
    }
}
