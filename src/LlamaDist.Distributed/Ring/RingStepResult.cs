using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Ring;

/// <summary>
/// What came back from the last stage for one step: the greedy token or the logits asked for, plus every
/// stage's timing and the step's wall time and bytes on the wire as the coordinator saw them.
/// </summary>
public sealed class RingStepResult
{
    /// <summary>Argmax token when the step asked for it, else -1.</summary>
    public int GreedyToken { get; init; } = -1;

    /// <summary>Logits when the step asked for them ([rows, vocab]), else null.</summary>
    public float[]? Logits { get; init; }

    public required IReadOnlyList<StageTiming> Stages { get; init; }

    public required double WallMilliseconds { get; init; }

    /// <summary>Payload bytes the coordinator sent to the first stage.</summary>
    public required long BytesSent { get; init; }

    /// <summary>Payload bytes the last stage sent back to the coordinator.</summary>
    public required long BytesReceived { get; init; }

    /// <summary>Micro-batches the step went through the ring in (1: whole; more: pipelined).</summary>
    public int MicroBatches { get; init; } = 1;
}
