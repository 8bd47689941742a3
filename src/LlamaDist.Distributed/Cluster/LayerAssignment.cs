using LlamaDist.Core.Model;

namespace LlamaDist.Distributed.Cluster;

/// <summary>
/// One stage of a plan: the node at <paramref name="NodeIndex"/> (ring position) runs <paramref name="Layers"/>.
/// <paramref name="WeightBytes"/> counts the layers' tensors plus the embedding (first stage) and output head
/// (last stage); <paramref name="KvBytes"/> is the KV cache of its layers for the planned context.
/// </summary>
public sealed record LayerAssignment(int NodeIndex, string Endpoint, LayerRange Layers, long WeightBytes, long KvBytes)
{
    /// <summary>Memory the stage needs on its node.</summary>
    public long TotalBytes => WeightBytes + KvBytes;

    public override string ToString() =>
        $"{Endpoint} {Layers} weights {WeightBytes} B, KV {KvBytes} B";
}
