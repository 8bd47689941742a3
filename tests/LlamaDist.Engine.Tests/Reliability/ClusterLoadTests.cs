using System.Collections.Concurrent;
using System.Diagnostics;
using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.TestModels;
using LlamaDist.Engine.Workers;
using Xunit.Abstractions;

namespace LlamaDist.Engine.Tests.Reliability;

/// <summary>
/// A cluster of two worker processes under load: 16 prompts at once, 4 rounds, every output equal to its
/// sequential run and the workers' resident memory flat across rounds; then 1,000 prompts cancelled at random
/// moments (before, during and after their prompt steps), after which no session is left on either worker.
/// Figures go to the test output (docs/RELIABILITY.md quotes them).
/// </summary>
[Trait("Category", ReliabilitySettings.Category)]
public sealed class ClusterLoadTests : IDisposable
{
    private const int Concurrent = 16, Rounds = 4, CancelledPrompts = 1000;
    private readonly ITestOutputHelper output;
    private readonly string directory = Path.Combine(Path.GetTempPath(), $"llamadist-load-{Guid.NewGuid():N}");
    private readonly string? previousState = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
    private readonly List<DetachedWorkerInfo> workers = [];

    public ClusterLoadTests(ITestOutputHelper output)
    {
        this.output = output;
        Directory.CreateDirectory(directory);
        // The worker processes record themselves under a state directory of this test's own.
        Environment.SetEnvironmentVariable("XDG_STATE_HOME", Path.Combine(directory, "state"));
    }

    private static GenerationRequest Request(int index) => new()
    {
        Prompt = $"Story {index}: once upon a time there was a keeper of a lighthouse number {index * 7}",
        MaxTokens = 24, Temperature = 0, BatchSize = 8,
    };

    [Fact]
    public void ConcurrentPromptsMatchTheirSequentialRuns_MemoryStaysFlat_AndCancelledPromptsLeaveNoSession()
    {
        var model = Path.Combine(directory, "small-q8_0.gguf");
        TestModelFactory.Create(model, "Small", "Q8_0", seed: 5, vocabularyFrom: null, overwrite: true);
        for (int i = 0; i < 2; i++)
        {
            workers.Add(DetachedWorker.Start(new WorkerStartRequest
            {
                Port = 0, Threads = 1, Name = $"load-{i}", CacheDirectory = Path.Combine(directory, $"cache-{i}"),
                LogPath = Path.Combine(directory, $"worker-{i}.log"),
            }));
        }
        using var cluster = ClusterModel.Create(new ClusterRequest { ModelPath = model, Workers = workers.Select(w => w.Endpoint).ToArray() });

        var expected = Enumerable.Range(0, Concurrent).Select(i => cluster.Generate(Request(i)).TokenIds).ToArray();
        var memory = new List<long[]>();
        for (int round = 0; round < Rounds; round++)
        {
            var clock = Stopwatch.StartNew();
            var results = new int[Concurrent][];
            Parallel.For(0, Concurrent, new ParallelOptions { MaxDegreeOfParallelism = Concurrent }, i => results[i] = cluster.Generate(Request(i)).TokenIds);
            for (int i = 0; i < Concurrent; i++)
            {
                Assert.Equal(expected[i], results[i]);
            }
            memory.Add(workers.Select(ResidentBytes).ToArray());
            output.WriteLine($"round {round + 1}: {Concurrent} prompts at once in {clock.ElapsedMilliseconds} ms, all equal to their sequential runs; " +
                $"worker resident memory {string.Join(", ", memory[^1].Select(b => $"{b / (1024.0 * 1024):F1} MiB"))}");
        }
        for (int w = 0; w < workers.Count; w++)
        {
            // Flat: the last round holds no more than the first plus the garbage collector's slack (each round
            // allocates and frees 16 sessions' KV caches and buffers; the heap is collected when the GC decides).
            Assert.InRange(memory[^1][w], 0, memory[0][w] + (32L << 20));
        }

        var random = new Random(2026);
        var delays = Enumerable.Range(0, CancelledPrompts).Select(_ => random.Next(0, 1000)).ToArray();
        var outcomes = new ConcurrentDictionary<string, int>();
        var cancelClock = Stopwatch.StartNew();
        Parallel.For(0, CancelledPrompts, new ParallelOptions { MaxDegreeOfParallelism = Concurrent }, i =>
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(delays[i]));
            try
            {
                cluster.Generate(Request(i % Concurrent), null, cancel.Token);
                outcomes.AddOrUpdate("completed", 1, (_, n) => n + 1);
            }
            catch (OperationCanceledException)
            {
                outcomes.AddOrUpdate("cancelled", 1, (_, n) => n + 1);
            }
        });
        var sessions = workers.Select(w => WaitForNoSessions(w.Endpoint, TimeSpan.FromSeconds(10))).ToArray();
        output.WriteLine($"{CancelledPrompts} prompts cancelled after 0-1000 ms ({string.Join(", ", outcomes.Select(o => $"{o.Value} {o.Key}"))}) in " +
            $"{cancelClock.ElapsedMilliseconds} ms; sessions left: {string.Join(", ", sessions)}");
        Assert.Equal(CancelledPrompts, outcomes.Values.Sum());
        Assert.True(outcomes.GetValueOrDefault("cancelled") > 0);
        Assert.All(sessions, left => Assert.Equal(0, left));
        var after = workers.Select(ResidentBytes).ToArray();
        output.WriteLine($"after the {CancelledPrompts} cancelled prompts: worker resident memory {string.Join(", ", after.Select(b => $"{b / (1024.0 * 1024):F1} MiB"))}");
        for (int w = 0; w < workers.Count; w++)
        {
            Assert.InRange(after[w], 0, memory[0][w] + (64L << 20));
        }
        // And the cluster still answers exactly.
        Assert.Equal(expected[3], cluster.Generate(Request(3)).TokenIds);
    }

    private static long ResidentBytes(DetachedWorkerInfo worker)
    {
        using var process = Process.GetProcessById(worker.ProcessId);
        process.Refresh();
        return process.WorkingSet64;
    }

    private static int WaitForNoSessions(string endpoint, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var open = WorkerInspector.Query(endpoint).OpenSessions;
            if (open == 0 || DateTime.UtcNow > deadline)
            {
                return open;
            }
            Thread.Sleep(100);
        }
    }

    public void Dispose()
    {
        foreach (var worker in workers)
        {
            DetachedWorkerStopper.Stop(worker.ProcessId, worker.ProcessStartTime);
        }
        Environment.SetEnvironmentVariable("XDG_STATE_HOME", previousState);
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
