using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;
using LlamaDist.Engine.Tests.Agreement;

namespace LlamaDist.Engine.Tests.Cluster;

/// <summary>
/// Prompts sent through the ring in micro-batches (every stage working at once) and prompts of several callers
/// decoded at the same time on one cluster give what a local run gives: the same greedy tokens and the same last
/// logits bit for bit with F32 hand-offs; with F16 ones the logits within the weight type's tolerance and the greedy
/// tokens up to a local near-tie (<see cref="GreedyAgreement"/>).
/// </summary>
public sealed class PipelinedRingTests : IClassFixture<ClusterFixture>
{
    private const string Prompt = "The quick brown fox jumps over the lazy dog because";
    private readonly ClusterFixture fixture;

    public PipelinedRingTests(ClusterFixture fixture) => this.fixture = fixture;

    private static GenerationRequest Greedy(string prompt = Prompt, int tokens = 10) =>
        new() { Prompt = prompt, MaxTokens = tokens, Temperature = 0 };

    [Theory]
    [InlineData("F32", 2, "F32", 3)]
    [InlineData("F32", 3, "F32", 4)]
    [InlineData("Q8_0", 2, "F16", 5)]
    [InlineData("Q4_0", 3, "F16", 2)]
    public void PipelinedPromptsGiveTheLocalGreedyTokensAndLogits(string type, int workers, string encoding, int microBatch)
    {
        var path = fixture.ModelPath(type);
        using var local = LocalModel.Load(path, threads: 1);
        var expectedTokens = local.Generate(Greedy()).TokenIds;
        var promptIds = local.Tokenize(Prompt);
        var expectedLogits = local.EvaluateLastLogits(promptIds);

        using var cluster = ClusterModel.Create(new ClusterRequest
        {
            ModelPath = path, Workers = fixture.Endpoints(workers), Split = "Even", ActivationEncoding = encoding, MicroBatchSize = microBatch,
        });
        int[] clusterTokens = cluster.Generate(Greedy()).TokenIds;
        if (encoding == "F32")
        {
            Assert.Equal(expectedTokens, clusterTokens);
        }
        else
        {
            GreedyAgreement.AssertAgrees(local, promptIds, expectedTokens, clusterTokens, GreedyAgreement.F16HandOffTieMargin);
        }

        using var observed = (ObservedSequence)((IGenerationModel)cluster).Open(64, 64);
        var sequence = (ClusterSequence)observed.Inner;
        var logits = new float[expectedLogits.Length];
        sequence.Evaluate(promptIds, logits);
        Assert.Equal((promptIds.Length + microBatch - 1) / microBatch, sequence.MicroBatches);
        Assert.Equal(promptIds.Length, sequence.Position);
        if (encoding == "F32")
        {
            Assert.Equal(expectedLogits, logits);
        }
        else
        {
            var tolerance = Tolerance.For(type);
            double maxAbs = expectedLogits.Zip(logits, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(maxAbs <= tolerance.MaximumAbsoluteDifference, $"max |diff| {maxAbs} > {tolerance.MaximumAbsoluteDifference}");
        }
        // The sequence decodes on from the pipelined prompt as from a whole one (F16 hand-offs: up to local near-ties).
        double tieMargin = encoding == "F32" ? 0 : GreedyAgreement.F16HandOffTieMargin;
        GreedyAgreement.AssertStep(local, promptIds, expectedTokens[0], Array.IndexOf(logits, logits.Max()), tieMargin);
        GreedyAgreement.AssertStep(local, [.. promptIds, expectedTokens[0]], expectedTokens[1],
            sequence.EvaluateGreedy([expectedTokens[0]]), tieMargin);
    }

    [Fact]
    public void IncludeLocalPipelinesItsOwnStageToo()
    {
        var path = fixture.ModelPath("Q8_0");
        using var local = LocalModel.Load(path, threads: 1);
        var expected = local.Generate(Greedy()).TokenIds;
        using var cluster = ClusterModel.Create(new ClusterRequest
        {
            ModelPath = path, Workers = fixture.Endpoints(2), IncludeLocal = true, LayerCounts = [1, 2, 1], Threads = 1,
            ActivationEncoding = "F32", MicroBatchSize = 4,
        });
        Assert.Equal(expected, cluster.Generate(Greedy()).TokenIds);
    }

    [Fact]
    public void ConcurrentPromptsOnOneClusterEachGiveTheirLocalTokens()
    {
        var path = fixture.ModelPath("Q8_0");
        string[] prompts = ["Once upon a time", "The capital of France is", "In a hole in the ground there lived", "Four"];
        using var local = LocalModel.Load(path, threads: 1);
        var expected = prompts.Select(prompt => local.Generate(Greedy(prompt, 12)).TokenIds).ToArray();
        using var cluster = ClusterModel.Create(new ClusterRequest { ModelPath = path, Workers = fixture.Endpoints(2), ActivationEncoding = "F32" });

        // Each prompt on a thread of its own, as runspaces and thread jobs run them: a prompt blocks its thread
        // while the ring computes, and four of them on pool threads starved the pool that this process's embedded
        // workers and the cluster's health probes answer on (on a loaded machine a probe then missed its limit
        // and the prompt found "no node left").
        var results = prompts.Select(prompt => Task.Factory.StartNew(() => cluster.Generate(Greedy(prompt, 12)),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        Assert.True(Task.WaitAll(results, TimeSpan.FromSeconds(60)), "The concurrent prompts did not finish.");
        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(expected[i], results[i].Result.TokenIds);
        }
    }

    [Fact]
    public void Co_located_workers_count_as_one_machine_so_prompts_go_whole()
    {
        var path = fixture.ModelPath("F32");
        using var cluster = ClusterModel.Create(new ClusterRequest { ModelPath = path, Workers = fixture.Endpoints(3), Split = "Even", ActivationEncoding = "F32" });
        Assert.Equal(1, cluster.Costs.ParallelStages);
        using var observed = (ObservedSequence)((IGenerationModel)cluster).Open(64, 64);
        var sequence = (ClusterSequence)observed.Inner;
        sequence.EvaluateGreedy(Enumerable.Range(1, 40).ToArray());
        Assert.Equal(1, sequence.MicroBatches);
    }
}
