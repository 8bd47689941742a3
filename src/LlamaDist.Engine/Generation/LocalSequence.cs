using LlamaDist.Core.Model;
using LlamaDist.Core.Numerics;

namespace LlamaDist.Engine.Generation;

/// <summary>A sequence whose every layer runs in this process: one session over the whole model, evaluated through the model's <see cref="LocalBatcher"/>.</summary>
internal sealed class LocalSequence : IGenerationSequence
{
    private readonly LocalBatcher compute;
    private readonly LlamaSession session;
    private readonly float[] logits;

    /// <param name="compute">The model's compute, shared with the other sequences running on it at the same time.</param>
    public LocalSequence(LocalBatcher compute, int contextSize, int batchSize)
    {
        this.compute = compute;
        var config = compute.Forward.Config;
        session = new LlamaSession(config, LayerRange.All(config.LayerCount), contextSize, batchSize);
        logits = new float[config.VocabularySize];
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
        compute.Evaluate(session, tokens, logits);
        return VectorMath.ArgMax(logits);
    }

    public void Dispose()
    {
        if (!session.IsDisposed)
        {
            compute.Leave();
            session.Dispose();
        }
    }
}
