using LlamaDist.Core.Model;
using LlamaDist.Core.Numerics;

namespace LlamaDist.Engine.Generation;

/// <summary>A sequence whose every layer runs in this process: one session over the whole model.</summary>
internal sealed class LocalSequence : IGenerationSequence
{
    private readonly LlamaForward forward;
    private readonly LlamaSession session;
    private readonly float[] logits;

    public LocalSequence(LlamaForward forward, int contextSize, int batchSize)
    {
        this.forward = forward;
        session = new LlamaSession(forward.Config, LayerRange.All(forward.Config.LayerCount), contextSize, batchSize);
        logits = new float[forward.Config.VocabularySize];
    }

    public int Position => session.Position;

    public IReadOnlyList<StageStatistics> Stages => [];

    public void Evaluate(ReadOnlySpan<int> tokens, Span<float> output) =>
        forward.EvaluateTokens(session, tokens, output, logitsForAllTokens: false);

    public int EvaluateGreedy(ReadOnlySpan<int> tokens)
    {
        forward.EvaluateTokens(session, tokens, logits, logitsForAllTokens: false);
        return VectorMath.ArgMax(logits);
    }

    public void Dispose() => session.Dispose();
}
