using LlamaDist.Core.Model;
using LlamaDist.Core.Model.Tensor;
using LlamaDist.Distributed.Client;

namespace LlamaDist.Distributed.Tensor;

/// <summary>One worker of a tensor-parallel group: its connection, its slice, and the id it loaded the slice under.</summary>
public sealed record TensorShard(WorkerClient Worker, TensorSlice Slice, string ShardId)
{
    /// <summary>The blocks the slice covers: every layer for -Split Tensor, the group's stage in a hybrid split.</summary>
    public LayerRange? Range { get; init; }

    /// <summary>Weight bytes the worker copied out of its model for the slice (its LoadShard reply).</summary>
    public long SliceBytes { get; init; }

    /// <summary>The worker's port for links between shards (its LoadShard reply), on the host of its endpoint.</summary>
    public int PeerPort { get; init; }
}

/// <summary>What a tensor-parallel session is opened with.</summary>
public sealed record TensorSessionOptions
{
    public required int ContextSize { get; init; }

    /// <summary>Tokens per step; longer prompts are sent in steps of this many.</summary>
    public required int MaxBatchTokens { get; init; }

    public required int VocabularySize { get; init; }

    public Protocol.ReductionEncoding Encoding { get; init; } = Protocol.ReductionEncoding.F32;

    /// <summary>n_embd: the width of the hidden states a stage of a hybrid split hands on.</summary>
    public int EmbeddingLength { get; init; }

    /// <summary>How a stage of a hybrid split hands its hidden state on (the layer ring's activation encodings).</summary>
    public Protocol.ActivationEncoding HiddenEncoding { get; init; } = Protocol.ActivationEncoding.F32;
}

/// <summary>
/// What a step of a tensor-parallel group starts from: token ids (a group whose layers start at 0) or the
/// previous stage's hidden state [Count, n_embd] as that stage's shard 0 sent it (a later stage of a hybrid split).
/// </summary>
public readonly record struct TensorStepInput(int[] Tokens, Protocol.HiddenState? Hidden, int Count)
{
    public static TensorStepInput FromTokens(ReadOnlySpan<int> tokens) => new(tokens.ToArray(), null, tokens.Length);

    public static TensorStepInput FromHidden(Protocol.HiddenState hidden, int count)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        return new([], hidden, count);
    }
}

/// <summary>What one shard reported for one step.</summary>
/// <param name="StepBytes">Bytes of the coordinator's step messages to the shard; <paramref name="ReplyBytes"/> of its replies.</param>
public readonly record struct ShardStepFigures(double ComputeMs, double ReduceMs, long PartialBytesSent, long PartialBytesReceived,
    long StepBytes, long ReplyBytes);
