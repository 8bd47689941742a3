using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;
using LlamaDist.Engine.TestModels;
using LlamaDist.Engine.Workers;

namespace LlamaDist.Engine.Tests.Cluster;

/// <summary>
/// A cluster renews its leases on its workers while it lives, so they keep its layers however long it idles; a
/// coordinator that stops renewing without Remove-LlamaCluster (it died) leaves nothing once the lease ends.
/// Workers with a six-second lease (renewed every 2 s, so a renewal may stall for four seconds before anything
/// expires); waits bounded at a few leases. A full parallel test run on two cores has stalled a coordinator's
/// renewals long enough to expire a live cluster with two seconds, and once (in CI) with four.
/// </summary>
[Trait("Category", "Slow")]  // left out of build.ps1 -Task Test -Fast
public sealed class ClusterLeaseTests : IDisposable
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(6);
    private readonly string directory = Path.Combine(Path.GetTempPath(), $"llamadist-lease-{Guid.NewGuid():N}");
    private readonly EmbeddedWorker[] workers;

    public ClusterLeaseTests()
    {
        Directory.CreateDirectory(directory);
        TestModelFactory.Create(ModelPath, "Small", "F32", seed: 5, vocabularyFrom: null, overwrite: true);
        workers = Enumerable.Range(0, 2).Select(i => EmbeddedWorker.Start(new WorkerStartRequest
        {
            Port = 0,
            Threads = 1,
            Name = $"lease-worker-{i}",
            CacheDirectory = Path.Combine(directory, $"cache-{i}"),
            LeaseTimeout = Lease,
        })).ToArray();
    }

    private string ModelPath => Path.Combine(directory, "small-F32.gguf");

    private static GenerationRequest Greedy => new() { Prompt = "The quick brown fox", MaxTokens = 6, Temperature = 0, BatchSize = 4 };

    private int RangesLoaded() => workers.Sum(worker => WorkerInspector.Query(worker.Endpoint).Ranges.Count);

    [Fact]
    public void ALiveClusterKeepsItsLayersPastTheLease_ADeadCoordinatorLeavesNothing()
    {
        using var local = LocalModel.Load(ModelPath, threads: 1);
        var expected = local.Generate(Greedy).TokenIds;
        using var cluster = ClusterModel.Create(new ClusterRequest
        {
            ModelPath = ModelPath,
            Workers = workers.Select(worker => worker.Endpoint).ToArray(),
            Split = "Even",
            ActivationEncoding = "F32",
        });

        Thread.Sleep(Lease * 2);
        Assert.True(cluster.LeaseRenewals >= 4, $"{cluster.LeaseRenewals} renewals of two workers in two leases");
        Assert.Equal(2, RangesLoaded());
        Assert.Equal(expected, cluster.Generate(Greedy).TokenIds);

        cluster.StopRenewingLeases();
        var deadline = DateTime.UtcNow + Lease * 6;
        while (RangesLoaded() > 0 && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(100);
        }
        Assert.Equal(0, RangesLoaded());
        Assert.All(workers, worker => Assert.Equal(0, WorkerInspector.Query(worker.Endpoint).OpenSessions));
    }

    [Fact]
    public void RemovingAClusterReleasesItsLayersAtOnce_AndAnotherClusterKeepsTheShared()
    {
        var request = new ClusterRequest { ModelPath = ModelPath, Workers = [workers[0].Endpoint] };
        using var keeper = ClusterModel.Create(request);
        var removed = ClusterModel.Create(request);
        int shared = RangesLoaded();
        Assert.True(shared == 1, $"{shared} ranges loaded by two clusters of the same model on one worker, expected 1 shared");
        removed.Dispose();

        // Same range, two holders: the other cluster's hold keeps it, and it still generates.
        long renewalsBefore = keeper.LeaseRenewals;
        Thread.Sleep(Lease * 1.5);
        int kept = RangesLoaded();
        Assert.True(kept == 1,
            $"{kept} ranges left a lease and a half after one holder left; the keeper renewed {keeper.LeaseRenewals - renewalsBefore} times meanwhile");
        using var local = LocalModel.Load(ModelPath, threads: 1);
        Assert.Equal(local.Generate(Greedy).TokenIds, keeper.Generate(Greedy).TokenIds);
        keeper.Dispose();
        int left = RangesLoaded();
        Assert.True(left == 0, $"{left} ranges left once the last holder was removed");
    }

    [Fact]
    public void ALoadThatFailsPartWay_GivesBackWhatItLoaded_WithoutWaitingForTheLease()
    {
        // The second worker has its own, different copy of the model under the same name: ModelMismatch there,
        // after the first worker has loaded its layers.
        var otherDirectory = Path.Combine(directory, "other");
        Directory.CreateDirectory(otherDirectory);
        TestModelFactory.Create(Path.Combine(otherDirectory, "small-F32.gguf"), "Small", "F32", seed: 6, vocabularyFrom: null, overwrite: true);
        using var mismatched = EmbeddedWorker.Start(new WorkerStartRequest
        {
            Port = 0, Threads = 1, Name = "lease-mismatched", CacheDirectory = Path.Combine(directory, "cache-m"), ModelPath = otherDirectory,
            LeaseTimeout = TimeSpan.FromMinutes(5),
        });
        var error = Assert.Throws<LlamaDist.Engine.Errors.LlamaDistException>(() => ClusterModel.Create(new ClusterRequest
        {
            ModelPath = ModelPath, Workers = [workers[0].Endpoint, mismatched.Endpoint], Split = "Even",
        }));
        Assert.Equal(LlamaDist.Engine.Errors.LlamaErrorKind.ModelMismatch, error.Kind);
        Assert.Empty(WorkerInspector.Query(workers[0].Endpoint).Ranges);
    }

    public void Dispose()
    {
        foreach (var worker in workers)
        {
            worker.Dispose();
        }
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
