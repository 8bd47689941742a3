using LlamaDist.Core.Model.Tensor;
using LlamaDist.Distributed.Client;

namespace LlamaDist.Distributed.Tensor;

/// <summary>One worker of a tensor-parallel group: its connection, its slice, and the id it loaded the slice under.</summary>
public sealed record TensorShard(WorkerClient Worker, TensorSlice Slice, string ShardId);

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
public readonly record struct ShardStepFigures(double ComputeMs, double ReduceMs, long PartialBytesSent, long ReplyBytes);
