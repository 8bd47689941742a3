using LlamaDist.Core.Backends;
using LlamaDist.Core.Numerics;
using LlamaDist.Gpu;

namespace LlamaDist.Engine.Generation;

/// <summary>A sequence whose every layer runs in this process: one session over the whole model, evaluated through the model's <see cref="LocalBatcher"/>.</summary>
internal sealed class LocalSequence : IGenerationSequence, ICandidateSequence
{
    private readonly LocalBatcher compute;
    private readonly IForwardSession session;
    private readonly float[] logits;
    private bool disposed;
    private int[]? candidateIds;
    private float[]? candidateLogits;

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

    public bool SelectsCandidates => compute.Forward is IlgpuRangeForward;

    public int EvaluateCandidates(ReadOnlySpan<int> tokens, int wanted, ReadOnlySpan<int> extraIds, Span<int> ids, Span<float> output)
    {
        if (compute.Forward is not IlgpuRangeForward device)
        {
            throw new InvalidOperationException("Only a model on the ILGPU backend selects candidates where its logits are.");
        }
        // Spans cannot enter the exclusive section's closure: the selection lands in buffers kept for the sequence.
        var tokenArray = tokens.ToArray();
        var extraArray = extraIds.ToArray();
        int room = device.Config.VocabularySize + IlgpuRangeForward.MaxExtraCandidates;
        var idArray = candidateIds ??= new int[room];
        var logitArray = candidateLogits ??= new float[room];
        int written = compute.RunExclusive(() => device.EvaluateTopCandidates(session, tokenArray, wanted, extraArray, idArray, logitArray));
        idArray.AsSpan(0, written).CopyTo(ids);
        logitArray.AsSpan(0, written).CopyTo(output);
        return written;
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
