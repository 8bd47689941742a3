using LlamaDist.Core.Backends;
using LlamaDist.Core.Numerics;
using LlamaDist.Gpu;

namespace LlamaDist.Engine.Generation;

/// <summary>A sequence whose every layer runs in this process: one session over the whole model.</summary>
internal sealed class LocalSequence : IGenerationSequence
{
    private readonly IRangeForward forward;
    private readonly IForwardSession session;
    private readonly float[] logits;

    public LocalSequence(IRangeForward forward, int contextSize, int batchSize)
    {
        this.forward = forward;
        session = forward.CreateSession(contextSize, batchSize);
        logits = new float[forward.Config.VocabularySize];
    }

    public int Position => session.Position;

    public IReadOnlyList<StageStatistics> Stages => [];

    public void Evaluate(ReadOnlySpan<int> tokens, Span<float> output) =>
        forward.EvaluateTokens(session, tokens, output, logitsForAllTokens: false);

    public int EvaluateGreedy(ReadOnlySpan<int> tokens)
    {
        if (forward is IlgpuRangeForward device)
        {
            // Picked on the device: only the token id crosses the bus.
            return device.EvaluateGreedy(session, tokens);
        }
        forward.EvaluateTokens(session, tokens, logits, logitsForAllTokens: false);
        return VectorMath.ArgMax(logits);
    }

    public void Dispose() => session.Dispose();
}
