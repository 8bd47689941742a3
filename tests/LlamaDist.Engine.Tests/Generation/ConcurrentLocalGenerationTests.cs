using LlamaDist.Engine.Benchmarks;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;
using LlamaDist.Engine.TestModels;

namespace LlamaDist.Engine.Tests.Generation;

/// <summary>
/// Prompts generated at the same time on one local model are decoded together (one pass for the steps that meet),
/// and each gives exactly the tokens it gives alone.
/// </summary>
public sealed class ConcurrentLocalGenerationTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), $"llamadist-concurrent-{Guid.NewGuid():N}");

    public ConcurrentLocalGenerationTests() => Directory.CreateDirectory(directory);

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

    [Theory]
    [InlineData("F32")]
    [InlineData("Q8_0")]
    public async Task ConcurrentPromptsEachGiveTheirOwnTokens(string type)
    {
        var path = Path.Combine(directory, $"tiny-{type}.gguf");
        TestModelFactory.Create(path, "Small", type, seed: 11, vocabularyFrom: null, overwrite: true);
        string[] prompts = ["Once upon a time", "The capital of France is", "In a hole in the ground", "Four score and", "Hello", "A", "Why is the sky", "Numbers: 1, 2,"];
        using var model = LocalModel.Load(path, threads: 2);
        GenerationRequest Greedy(string prompt) => new() { Prompt = prompt, MaxTokens = 16, Temperature = 0 };
        var alone = prompts.Select(prompt => model.Generate(Greedy(prompt)).TokenIds).ToArray();

        // The device is held while the eight start, so their first steps all wait and the pass after it takes them
        // together: the batched path is exercised however the threads are scheduled (left to chance, a busy
        // machine can run every step alone).
        using var holding = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var holder = Task.Factory.StartNew(() => model.Compute.RunExclusive(() =>
        {
            holding.Set();
            return release.Wait(TimeSpan.FromSeconds(60)) ? 0 : 1;
        }), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.True(holding.Wait(TimeSpan.FromSeconds(30)), "The device was not taken.");
        var together = prompts.Select(prompt => Task.Factory.StartNew(() => model.Generate(Greedy(prompt)).TokenIds,
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (model.Compute.WaitingSteps < prompts.Length && waited.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(5);
        }
        Assert.Equal(prompts.Length, model.Compute.WaitingSteps);
        release.Set();
        Assert.Equal(0, await holder.WaitAsync(TimeSpan.FromSeconds(60)));
        var results = await Task.WhenAll(together).WaitAsync(TimeSpan.FromSeconds(60));
        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(alone[i], results[i]);
        }
        Assert.True(model.Compute.SharedPasses > 0);
    }

    [Fact]
    public void ABenchmarkWithConcurrencyCountsEveryTokenOfEverySequence()
    {
        var path = Path.Combine(directory, "bench.gguf");
        TestModelFactory.Create(path, "Small", "Q8_0", seed: 3, vocabularyFrom: null, overwrite: true);
        using var model = LocalModel.Load(path, threads: 1);
        var rows = model.Benchmark(new BenchmarkRequest { PromptTokens = 8, GenerationTokens = 8, Repetitions = 1, Concurrency = 4 });
        Assert.Equal(["pp8", "tg8"], rows.Select(row => row.Test));
        Assert.All(rows, row =>
        {
            Assert.Equal(4, row.Concurrency);
            Assert.Equal(4 * 8 * 1000.0 / row.AverageMs, row.AverageTokensPerSecond, 6);
        });
        Assert.Throws<LlamaDist.Engine.Errors.LlamaDistException>(() => model.Benchmark(new BenchmarkRequest { Concurrency = 0 }));
    }
}
