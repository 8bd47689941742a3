namespace LlamaDist.Distributed.Cluster;

/// <summary>
/// What a model needs from the cluster. Layers are assumed uniform (every llama block has the same tensors), so
/// one layer costs <see cref="LayerWeightBytes"/> + <see cref="KvBytesPerLayer"/> of memory wherever it runs.
/// </summary>
public sealed record PlanRequest
{
    /// <summary>Transformer blocks in the model (n_layer).</summary>
    public required int LayerCount { get; init; }

    /// <summary>Tensor bytes of one block (attention + feed-forward + norms) as stored in the GGUF.</summary>
    public required long LayerWeightBytes { get; init; }

    /// <summary>token_embd.weight bytes, held by the first node.</summary>
    public long EmbeddingBytes { get; init; }

    /// <summary>output_norm.weight + output.weight bytes, held by the last node.</summary>
    public long HeadBytes { get; init; }

    /// <summary>
    /// KV cache bytes of one layer for the chosen context:
    /// 2 (K and V) × context × kv_heads × head_dim × 2 (f16) per session.
    /// </summary>
    public long KvBytesPerLayer { get; init; }

    public SplitMode Mode { get; init; } = SplitMode.Auto;

    /// <summary>With <see cref="SplitMode.Explicit"/>: layers per node, in node order, summing to <see cref="LayerCount"/>.</summary>
    public IReadOnlyList<int>? ExplicitLayerCounts { get; init; }

    /// <summary>Memory one layer takes on any node: its weights plus its KV cache.</summary>
    public long BytesPerLayer => checked(LayerWeightBytes + KvBytesPerLayer);
}
