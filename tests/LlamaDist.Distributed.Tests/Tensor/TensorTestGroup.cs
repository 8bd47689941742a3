using LlamaDist.Core.Gguf;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Tensor;
using LlamaDist.Distributed.Tests.Worker;

namespace LlamaDist.Distributed.Tests.Tensor;

/// <summary>In-process workers, routed to each other, with a model's shards loaded on them: the tensor tests' fixture.</summary>
internal sealed class TensorTestGroup : IAsyncDisposable
{
    private readonly List<WorkerClient> clients = [];

    public List<InProcessWorker> Workers { get; } = [];

    public IReadOnlyList<TensorShard> Shards { get; private set; } = [];

    private int vocabulary;

    public static async Task<TensorTestGroup> StartAsync(WorkerModels models, string path, int count)
    {
        var group = new TensorTestGroup { vocabulary = models.Config.VocabularySize };
        for (int i = 0; i < count; i++)
        {
            group.Workers.Add(await InProcessWorker.StartAsync($"shard-{i}"));
        }
        InProcessWorker.Route([.. group.Workers]);
        foreach (var worker in group.Workers)
        {
            group.clients.Add(await worker.ConnectAsync());
        }
        using var file = GgufFile.Open(path);
        string hash = models.Hash(path, models.Whole);
        group.Shards = await TensorGroupLoader.LoadAsync(group.clients, file, models.Config, path, hash, shares: null, default);
        return group;
    }

    public TensorSessionOptions Options(ReductionEncoding encoding) => new()
    {
        ContextSize = 64, MaxBatchTokens = 16, VocabularySize = vocabulary, Encoding = encoding,
    };

    public async ValueTask DisposeAsync()
    {
        foreach (var client in clients)
        {
            client.Dispose();
        }
        foreach (var worker in Workers)
        {
            await worker.DisposeAsync();
        }
    }
}
