using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Model.Tensor;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Weights;

namespace LlamaDist.Distributed.Tensor;

/// <summary>
/// Loads a tensor-parallel group: divides the model between the workers (<see cref="TensorSlice.Plan"/>, in
/// proportion to <paramref name="shares"/> when given) and has each load its slice from its own copy of the
/// GGUF, verified by the hash of all the model's tensors. Shards already loaded are released again when a later
/// one fails. A stage of a hybrid split passes its <c>range</c>: the group's shards then hold only those blocks.
/// </summary>
public static class TensorGroupLoader
{
    public static async Task<IReadOnlyList<TensorShard>> LoadAsync(IReadOnlyList<WorkerClient> workers, GgufFile file, LlamaConfig config,
        string modelPath, string modelHash, IReadOnlyList<double>? shares, CancellationToken cancellationToken, LayerRange? range = null)
    {
        ArgumentNullException.ThrowIfNull(workers);
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(config);
        var slices = Plan(file, config, workers.Count, shares);
        var loaded = new TensorShard?[workers.Count];
        try
        {
            await Task.WhenAll(workers.Select(async (worker, index) =>
            {
                var request = new LoadShardRequest
                {
                    Model = new ModelIdentity { FileName = Path.GetFileName(modelPath), RangeHash = modelHash },
                    Config = ProtocolMapping.ToMessage(config),
                    Shard = ShardMapping.ToMessage(slices[index], range),
                    WorkerPath = modelPath,
                    OwnerId = worker.OwnerId,
                };
                var reply = await WorkerClient.Invoke(worker.Endpoint, () =>
                    worker.Calls.LoadShardAsync(request, cancellationToken: cancellationToken).ResponseAsync).ConfigureAwait(false);
                loaded[index] = new TensorShard(worker, slices[index], reply.ShardId) { SliceBytes = (long)reply.SliceBytes, Range = range, PeerPort = (int)reply.PeerPort };
            })).ConfigureAwait(false);
        }
        catch
        {
            await ReleaseAsync(loaded.Where(shard => shard is not null).Select(shard => shard!)).ConfigureAwait(false);
            throw;
        }
        return loaded.Select(shard => shard!).ToArray();
    }

    /// <summary>The slices of <paramref name="shardCount"/> shards for this file's weight types.</summary>
    public static IReadOnlyList<TensorSlice> Plan(GgufFile file, LlamaConfig config, int shardCount, IReadOnlyList<double>? shares = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        // Every layer's Wo and Wdown must be cut on block boundaries: plan for the coarsest block among them.
        GgmlType attentionOutput = Coarsest(file, config, LlamaTensorNames.AttentionOutputSuffix);
        GgmlType down = Coarsest(file, config, LlamaTensorNames.DownSuffix);
        return TensorSlice.Plan(config, shardCount, attentionOutput, down, shares);
    }

    /// <summary>The hash workers verify their copy against: every tensor of the model (all layers, embedding and head).</summary>
    public static string ModelHash(GgufFile file, LlamaConfig config, CancellationToken cancellationToken) =>
        RangeHasher.Hash(file, RangeTensors.Select(file, config, LayerRange.All(config.LayerCount)), cancellationToken);

    public static async Task ReleaseAsync(IEnumerable<TensorShard> shards)
    {
        await Task.WhenAll(shards.Select(async shard =>
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await shard.Worker.Calls.ReleaseShardAsync(new ReleaseShardRequest { ShardId = shard.ShardId, OwnerId = shard.Worker.OwnerId },
                    cancellationToken: timeout.Token).ResponseAsync.ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is Grpc.Core.RpcException or OperationCanceledException or HttpRequestException or ObjectDisposedException)
            {
                // Gone or slow: its lease frees the shard.
            }
        })).ConfigureAwait(false);
    }

    private static GgmlType Coarsest(GgufFile file, LlamaConfig config, string suffix)
    {
        GgmlType coarsest = GgmlType.F32;
        for (int layer = 0; layer < config.LayerCount; layer++)
        {
            var tensor = file.FindTensor(LlamaTensorNames.Block(layer, suffix))
                ?? throw new UnsupportedModelException($"Tensor '{LlamaTensorNames.Block(layer, suffix)}' is missing.", LlamaTensorNames.Block(layer, suffix));
            if (GgmlTypeInfo.BlockSize(tensor.Type) > GgmlTypeInfo.BlockSize(coarsest))
            {
                coarsest = tensor.Type;
            }
        }
        return coarsest;
    }
}
