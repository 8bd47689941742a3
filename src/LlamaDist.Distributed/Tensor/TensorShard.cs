using LlamaDist.Core.Model.Tensor;
using LlamaDist.Distributed.Client;

namespace LlamaDist.Distributed.Tensor;

/// <summary>One worker of a tensor-parallel group: its connection, its slice, and the id it loaded the slice under.</summary>
public sealed record TensorShard(WorkerClient Worker, TensorSlice Slice, string ShardId)
{
    /// <summary>Weight bytes the worker copied out of its model for the slice (its LoadShard reply).</summary>
    public long SliceBytes { get; init; }
}

/// <summary>What a tensor-parallel session is opened with.</summary>
public sealed record TensorSessionOptions
{
    public required int ContextSize { get; init; }

    /// <summary>Tokens per step; longer prompts are sent in steps of this many.</summary>
    public required int MaxBatchTokens { get; init; }

    public required int VocabularySize { get; init; }

    public Protocol.ReductionEncoding Encoding { get; init; } = Protocol.ReductionEncoding.F32;
}

/// <summary>What one shard reported for one step.</summary>
/// <param name="StepBytes">Bytes of the coordinator's step messages to the shard; <paramref name="ReplyBytes"/> of its replies.</param>
public readonly record struct ShardStepFigures(double ComputeMs, double ReduceMs, long PartialBytesSent, long PartialBytesReceived,
    long StepBytes, long ReplyBytes);
