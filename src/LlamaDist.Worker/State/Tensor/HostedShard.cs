using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Model.Tensor;

namespace LlamaDist.Worker.State.Tensor;

/// <summary>
/// A tensor-parallel shard this worker holds: its own mapped copy of the model (verified by the hash of all its
/// tensors) and the slices copied out of it. Shared by every coordinator that asks for the same model and slice;
/// freed when the last holder releases it.
/// </summary>
internal sealed class HostedShard : IDisposable
{
    public HostedShard(string id, string modelHash, GgufFile file, LlamaConfig config, TensorShardWeights weights, string source)
    {
        Id = id;
        ModelHash = modelHash;
        File = file;
        Config = config;
        Weights = weights;
        Source = source;
    }

    /// <summary>SHA-256 (hex) of the model hash and the slice: one id per model and slice.</summary>
    public string Id { get; }

    public string ModelHash { get; }

    public GgufFile File { get; }

    public LlamaConfig Config { get; }

    public TensorShardWeights Weights { get; }

    public TensorSlice Slice => Weights.Slice;

    public long Bytes => Weights.SliceBytes;

    public string Source { get; }

    public RangeHolders Holders { get; } = new();

    public void Dispose()
    {
        Weights.Dispose();
        File.Dispose();
    }
}
