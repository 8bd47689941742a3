using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;
using LlamaDist.Engine.TestModels;
using LlamaDist.Engine.Workers;

namespace LlamaDist.Engine.Tests.Cluster;

/// <summary>
/// A cluster that loses a worker mid-prompt (the worker stopped from inside the stream of generated text) goes on
/// with the same greedy tokens as the local run and records the failover; with failover off it fails naming the
/// worker, with the partial result; a worker restarted on its port serves again without a new cluster.
/// Workers of its own (stopped and restarted here), on loopback, with ports picked by the OS.
/// </summary>
public sealed class ClusterFailoverTests : IDisposable
{
    private const string Prompt = "Once upon a time";
    private readonly string directory = Path.Combine(Path.GetTempPath(), $"llamadist-failover-{Guid.NewGuid():N}");
    private readonly List<EmbeddedWorker> workers = [];

    public ClusterFailoverTests()
    {
        Directory.CreateDirectory(directory);
        TestModelFactory.Create(ModelPath, "Small", "Q8_0", seed: 5, vocabularyFrom: null, overwrite: true);
    }

    private string ModelPath => Path.Combine(directory, "small-q8_0.gguf");

    private EmbeddedWorker StartWorker(int index, int port = 0)
    {
        var worker = EmbeddedWorker.Start(new WorkerStartRequest
        {
            Port = port, Threads = 1, Name = $"failover-{index}", CacheDirectory = Path.Combine(directory, $"cache-{index}"),
        });
        workers.Add(worker);
        return worker;
    }

    private static GenerationRequest Greedy(int tokens = 24) => new() { Prompt = Prompt, MaxTokens = tokens, Temperature = 0, BatchSize = 3 };

    private int[] LocalTokens(GenerationRequest request)
    {
        using var model = LocalModel.Load(ModelPath, threads: 1);
        return model.Generate(request).TokenIds;
    }

    /// <summary>Stops <paramref name="victim"/> once <paramref name="afterPieces"/> pieces of text have streamed (during decoding).</summary>
    private static Action<string> StopAfter(EmbeddedWorker victim, int afterPieces)
    {
        int pieces = 0;
        return _ =>
        {
            if (++pieces == afterPieces)
            {
                victim.Dispose();
            }
        };
    }

    // The middle stage here; the first and last, killed and frozen as real processes, in tests/Pester/Failover.Tests.ps1
    // (and every stage in both phases in the Reliability task).
    [Theory]
    [InlineData(1)]
    public void AStageLostWhileDecoding_IsReassigned_AndTheGreedyTokensEqualTheLocalRun(int victimIndex)
    {
        var expected = LocalTokens(Greedy());
        var endpoints = Enumerable.Range(0, 3).Select(i => StartWorker(i).Endpoint).ToArray();
        using var cluster = ClusterModel.Create(new ClusterRequest { ModelPath = ModelPath, Workers = endpoints, Split = "Even", StageTimeout = TimeSpan.FromSeconds(3) });
        var victim = workers[victimIndex];
        var victimLayers = cluster.Nodes[victimIndex].Layers;

        var result = cluster.Generate(Greedy(), StopAfter(victim, 6));

        Assert.Equal(expected, result.TokenIds);
        var failover = Assert.Single(result.Failovers);
        Assert.Equal(endpoints[victimIndex], failover.Endpoint);
        Assert.Equal(victimLayers, failover.Layers);
        Assert.True(failover.Position > 0);
        Assert.Equal(failover.Position, failover.ReplayedTokens);
        Assert.True(failover.DetectionMs < 3000 + 1000, $"detected after {failover.DetectionMs} ms");
        Assert.DoesNotContain(endpoints[victimIndex], failover.NewPlan);

        // The next prompt plans without the lost worker from the start.
        var next = cluster.Generate(Greedy(8));
        Assert.Equal(expected[..8], next.TokenIds);
        Assert.False(cluster.Health().Single(node => node.Endpoint == endpoints[victimIndex]).Healthy);
    }

    [Fact]
    public void WithIncludeLocal_ThisProcessTakesTheWholeModelWhenTheLastWorkerIsLost()
    {
        var expected = LocalTokens(Greedy());
        var worker = StartWorker(0);
        using var cluster = ClusterModel.Create(new ClusterRequest
        {
            ModelPath = ModelPath, Workers = [worker.Endpoint], IncludeLocal = true, LayerCounts = [1, 3], Threads = 1, StageTimeout = TimeSpan.FromSeconds(3),
        });

        var result = cluster.Generate(Greedy(), StopAfter(worker, 6));

        Assert.Equal(expected, result.TokenIds);
        var failover = Assert.Single(result.Failovers);
        Assert.Equal(worker.Endpoint, failover.Endpoint);
        Assert.Equal("1-3", failover.Layers);
        Assert.Equal("local 0-3", failover.NewPlan);
    }

    [Fact]
    public void AWorkerRestartedOnItsPort_ServesItsLayersAgain_WithoutANewCluster()
    {
        var expected = LocalTokens(Greedy(8));
        var first = StartWorker(0);
        var second = StartWorker(1);
        int port = int.Parse(second.Endpoint.Split(':')[^1], System.Globalization.CultureInfo.InvariantCulture);
        using var cluster = ClusterModel.Create(new ClusterRequest { ModelPath = ModelPath, Workers = [first.Endpoint, second.Endpoint], Split = "Even", StageTimeout = TimeSpan.FromSeconds(3) });
        Assert.Equal(expected, cluster.Generate(Greedy(8)).TokenIds);

        second.Dispose();
        var restarted = StartWorker(1, port);  // a new process on the same port: it holds no range
        Assert.Equal(0, restarted.OpenSessions);
        // A refused address is dialled again after at most a second (the channel's reconnect backoff).
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (cluster.Health().Any(node => !node.Healthy) && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(100);
        }

        var result = cluster.Generate(Greedy(8));
        Assert.Equal(expected, result.TokenIds);
        Assert.Empty(result.Failovers);
        Assert.Contains(result.Stages, stage => stage.Endpoint == second.Endpoint && stage.Steps > 0);
        Assert.All(cluster.Health(), node => Assert.True(node.Healthy));
    }

    [Fact]
    public void AListenerThatNeverAnswers_IsADeadlineErrorNamingIt()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();  // accepts connections (the kernel's backlog) and never speaks HTTP/2
        var endpoint = $"127.0.0.1:{((System.Net.IPEndPoint)listener.LocalEndpoint).Port}";
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var error = Assert.Throws<LlamaDistException>(() => ClusterModel.Create(new ClusterRequest
        {
            ModelPath = ModelPath, Workers = [endpoint], StageTimeout = TimeSpan.FromSeconds(0.5),
        }));
        Assert.Equal(LlamaErrorKind.WorkerUnreachable, error.Kind);
        Assert.Equal(endpoint, error.Target);
        Assert.Contains("deadline exceeded", error.Message);
        Assert.InRange(clock.Elapsed.TotalSeconds, 1, 10);  // three stage timeouts
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
