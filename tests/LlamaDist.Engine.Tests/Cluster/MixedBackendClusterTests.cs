using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;
using LlamaDist.Engine.TestModels;
using LlamaDist.Engine.Workers;

namespace LlamaDist.Engine.Tests.Cluster;

/// <summary>
/// A cluster mixing backends: the first range on a worker running ILGPU's device kernels (on its CPU accelerator),
/// the rest and the output head on a CPU-engine worker, gives the local greedy tokens; workers report their
/// backend; a backend this machine lacks is refused with BackendUnavailable.
/// </summary>
public sealed class MixedBackendClusterTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("llamadist-mixed-").FullName;

    [Fact]
    public void AnIlgpuWorkerAndACpuWorkerGiveTheLocalGreedyTokens()
    {
        string path = Path.Combine(directory, "small-f16.gguf");
        TestModelFactory.Create(path, "Small", "F16", seed: 5, vocabularyFrom: null, overwrite: true);
        var request = new GenerationRequest { Prompt = "The quick brown fox", MaxTokens = 4, Temperature = 0, BatchSize = 8 };
        int[] expected;
        using (var local = LocalModel.Load(path, threads: 1))
        {
            expected = local.Generate(request).TokenIds;
        }

        using var device = Start(ComputeBackendMode.IlgpuCpu, 0);
        using var cpu = Start(ComputeBackendMode.Cpu, 1);
        using var cluster = ClusterModel.Create(new ClusterRequest
        {
            ModelPath = path, Workers = [device.Endpoint, cpu.Endpoint], Split = "Even", ActivationEncoding = "F32",
        });
        Assert.Equal(["ILGPUCPU", "CPU"], cluster.Nodes.Select(node => node.Backend));
        Assert.Equal(expected, cluster.Generate(request).TokenIds);

        var status = WorkerInspector.Query(device.Endpoint);
        Assert.Equal("ILGPUCPU", status.Backend);
        Assert.False(string.IsNullOrWhiteSpace(status.DeviceName));
        Assert.True(status.TotalMemoryBytes > 0);
    }

    /// <summary>Cuda either runs (on a machine with a CUDA device) or is refused with BackendUnavailable naming CUDA.</summary>
    [Fact]
    public void AnExplicitBackendRunsThereOrIsBackendUnavailable()
    {
        string path = Path.Combine(directory, "tiny.gguf");
        TestModelFactory.Create(path, "Tiny", "F32", seed: 5, vocabularyFrom: null, overwrite: true);
        try
        {
            using var model = LocalModel.Load(path, threads: 1, backend: ComputeBackendMode.Cuda);
            Assert.Equal(ComputeBackendMode.Cuda, model.Backend);
        }
        catch (LlamaDistException exception)
        {
            Assert.Equal(LlamaErrorKind.BackendUnavailable, exception.Kind);
            Assert.Contains("CUDA", exception.Message);
        }
    }

    [Fact]
    public void AutoFallsBackToTheCpuAndSaysWhy()
    {
        string path = Path.Combine(directory, "tiny-auto.gguf");
        TestModelFactory.Create(path, "Tiny", "F32", seed: 5, vocabularyFrom: null, overwrite: true);
        var messages = new List<string>();
        using var model = LocalModel.Load(path, threads: 1, backend: ComputeBackendMode.Auto, verbose: messages.Add);
        Assert.NotEmpty(messages);
        Assert.StartsWith("Backend Auto:", messages[^1]);
        if (model.Backend == ComputeBackendMode.Cpu)
        {
            Assert.Contains(messages, message => message.Contains("CUDA", StringComparison.Ordinal));
            Assert.Equal("Backend Auto: using the CPU engine.", messages[^1]);
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private EmbeddedWorker Start(ComputeBackendMode backend, int index) => EmbeddedWorker.Start(new WorkerStartRequest
    {
        Port = 0,
        Threads = 1,
        Name = $"mixed-worker-{index}",
        CacheDirectory = Path.Combine(directory, $"cache-{index}"),
        Backend = backend,
    });
}
