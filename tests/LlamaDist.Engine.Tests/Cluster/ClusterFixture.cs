using LlamaDist.Engine.TestModels;
using LlamaDist.Engine.Workers;

namespace LlamaDist.Engine.Tests.Cluster;

/// <summary>
/// Three embedded workers on loopback (ports picked by the OS), each with its own empty cache and no model
/// directory of its own, plus Small test models (4 layers, grouped-query) in the weight types clusters must run.
/// </summary>
public sealed class ClusterFixture : IDisposable
{
    public ClusterFixture()
    {
        Directory = Path.Combine(Path.GetTempPath(), $"llamadist-cluster-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(Directory);
        foreach (var type in Types)
        {
            TestModelFactory.Create(ModelPath(type), "Small", type, seed: 5, vocabularyFrom: null, overwrite: true);
        }
        Workers = Enumerable.Range(0, 3).Select(i => EmbeddedWorker.Start(new WorkerStartRequest
        {
            Port = 0,
            Threads = 1,
            Name = $"test-worker-{i}",
            CacheDirectory = Path.Combine(Directory, $"cache-{i}"),
        })).ToArray();
    }

    public static readonly string[] Types = ["F32", "F16", "Q8_0", "Q4_0"];

    public string Directory { get; }

    public EmbeddedWorker[] Workers { get; }

    public string[] Endpoints(int count) => Workers.Take(count).Select(w => w.Endpoint).ToArray();

    public string ModelPath(string type) => Path.Combine(Directory, $"small-{type}.gguf");

    public void Dispose()
    {
        foreach (var worker in Workers)
        {
            worker.Dispose();
        }
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
