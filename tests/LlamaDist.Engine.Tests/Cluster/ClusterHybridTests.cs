using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;
using LlamaDist.Engine.TestModels;
using LlamaDist.Engine.Tests.Agreement;
using LlamaDist.Engine.Workers;

namespace LlamaDist.Engine.Tests.Cluster;

/// <summary>Four embedded workers on loopback (one thread each, ports picked by the OS) and Small test models (4 layers, 2 KV heads).</summary>
public sealed class HybridClusterFixture : IDisposable
{
    public HybridClusterFixture()
    {
        Directory = Path.Combine(Path.GetTempPath(), $"llamadist-hybrid-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(Directory);
        foreach (var type in Types)
        {
            TestModelFactory.Create(ModelPath(type), "Small", type, seed: 5, vocabularyFrom: null, overwrite: true);
        }
        Workers = Enumerable.Range(0, 4).Select(i => EmbeddedWorker.Start(new WorkerStartRequest
        {
            Port = 0, Threads = 1, Name = $"hybrid-worker-{i}", CacheDirectory = Path.Combine(Directory, $"cache-{i}"),
        })).ToArray();
    }

    public static readonly string[] Types = ["F32", "Q8_0"];

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

/// <summary>
/// -Split Hybrid on real workers over loopback: tensor-parallel groups as the stages of a layer split give the
/// local run's greedy tokens (F32) and logits within the weight type's tolerance (Q8_0), for two pairs and for a
/// pair followed by a single worker; the plan is visible per node; group sizes that do not fit are refused.
/// </summary>
public sealed class ClusterHybridTests : IClassFixture<HybridClusterFixture>
{
    private const string Prompt = "The quick brown fox jumps over the lazy dog because";
    private readonly HybridClusterFixture fixture;

    public ClusterHybridTests(HybridClusterFixture fixture) => this.fixture = fixture;

    // Batches of 5 tokens: the prompt crosses the groups in several pieces.
    private static GenerationRequest Greedy(int tokens = 10) => new() { Prompt = Prompt, MaxTokens = tokens, Temperature = 0, BatchSize = 5 };

    [Fact]
    public void TwoPairsGiveTheLocalGreedyTokens()
    {
        var path = fixture.ModelPath("F32");
        int[] expected;
        using (var local = LocalModel.Load(path, threads: 1))
        {
            expected = local.Generate(Greedy()).TokenIds;
        }
        using var cluster = ClusterModel.Create(new ClusterRequest
        {
            ModelPath = path, Workers = fixture.Endpoints(4), Split = "Hybrid", TensorGroupSize = [2],
        });

        Assert.Equal("Hybrid", cluster.Split);
        Assert.Equal([(0, 2), (0, 2), (2, 4), (2, 4)], cluster.Nodes.Select(node => (node.LayerStart, node.LayerEnd)).ToArray());
        Assert.Equal(["0-1: KV heads 0-0, FFN 0-351", "0-1: KV heads 1-1, FFN 352-703",
            "2-3: KV heads 0-0, FFN 0-351, vocab 0-15999", "2-3: KV heads 1-1, FFN 352-703, vocab 16000-31999"],
            cluster.Nodes.Select(node => node.Layers).ToArray());
        Assert.All(cluster.Nodes, node => Assert.True(node.WeightBytes > 0));
        // The first group holds no output rows: less than the last group's slices.
        Assert.True(cluster.Nodes[0].WeightBytes < cluster.Nodes[2].WeightBytes);

        // The plan: the prediction for this grouping (every member of a group takes its group's whole time).
        Assert.StartsWith("Hybrid ", cluster.Plan);
        Assert.Contains($"[{cluster.Nodes[0].Endpoint} {cluster.Nodes[1].Endpoint}] 0-1, [{cluster.Nodes[2].Endpoint} {cluster.Nodes[3].Endpoint}] 2-3", cluster.Plan);
        Assert.All(cluster.Nodes, node => Assert.True(node.PredictedMsPerToken > 0));
        Assert.Equal(cluster.Nodes[0].PredictedMsPerToken, cluster.Nodes[1].PredictedMsPerToken);
        Assert.All(cluster.Nodes, node => Assert.Equal(0, node.ObservedMsPerToken));

        var result = cluster.Generate(Greedy());
        Assert.Equal(expected, result.TokenIds);
        Assert.Equal(4, result.Stages.Count);
        Assert.All(result.Stages, stage => Assert.True(stage.ComputeMs > 0 && stage.BytesReceived > 0 && stage.BytesSent > 0));
        Assert.All(cluster.Nodes, node => Assert.True(node.ObservedMsPerToken > 0));
    }

    [Theory]
    [InlineData("F32", "F32")]
    [InlineData("Q8_0", "F16")]
    public void APairAndASingleWorkerGiveTheLocalTokensAndLogits(string type, string encoding)
    {
        var path = fixture.ModelPath(type);
        using var local = LocalModel.Load(path, threads: 1);
        var expectedTokens = local.Generate(Greedy()).TokenIds;
        var promptIds = local.Tokenize(Prompt);
        var expectedLogits = local.EvaluateLastLogits(promptIds);

        using var cluster = ClusterModel.Create(new ClusterRequest
        {
            ModelPath = path, Workers = fixture.Endpoints(3), Split = "Hybrid", TensorGroupSize = [2, 1], ActivationEncoding = encoding,
        });
        Assert.Equal(encoding, cluster.ActivationEncoding);
        // The pair streams its layers twice as fast as the single worker: 3 of the 4 layers.
        Assert.Equal([(0, 3), (0, 3), (3, 4)], cluster.Nodes.Select(node => (node.LayerStart, node.LayerEnd)).ToArray());
        Assert.Equal("3-3: KV heads 0-1, FFN 0-703, vocab 0-31999", cluster.Nodes[2].Layers);

        var tokens = cluster.Generate(Greedy()).TokenIds;
        using var sequence = ((IGenerationModel)cluster).Open(64, 4);
        var logits = new float[expectedLogits.Length];
        sequence.Evaluate(promptIds, logits);
        Assert.Equal(promptIds.Length, sequence.Position);
        if (type == "F32")
        {
            Assert.Equal(expectedTokens, tokens);
        }
        var tolerance = Tolerance.For(type);
        double maxAbs = expectedLogits.Zip(logits, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(maxAbs <= tolerance.MaximumAbsoluteDifference, $"max |diff| {maxAbs} > {tolerance.MaximumAbsoluteDifference}");
        // The sequence decodes on from the prompt it was given in pieces.
        Assert.Equal(Array.IndexOf(logits, logits.Max()), tokens[0]);
        Assert.Equal(tokens[1], sequence.EvaluateGreedy([tokens[0]]));
    }

    [Fact]
    public void GroupSizesThatDoNotFitAreRefused()
    {
        var path = fixture.ModelPath("F32");
        var sum = Assert.Throws<LlamaDistException>(() => ClusterModel.Create(new ClusterRequest
        {
            ModelPath = path, Workers = fixture.Endpoints(3), Split = "Hybrid", TensorGroupSize = [2, 2],
        }));
        Assert.Equal(LlamaErrorKind.InvalidArgument, sum.Kind);
        Assert.Contains("add up to 4", sum.Message);

        // A group of 3 cannot share the model's 2 KV heads.
        var heads = Assert.Throws<LlamaDistException>(() => ClusterModel.Create(new ClusterRequest
        {
            ModelPath = path, Workers = fixture.Endpoints(4), Split = "Hybrid", TensorGroupSize = [3, 1],
        }));
        Assert.Equal(LlamaErrorKind.PlanningFailed, heads.Kind);
        Assert.Contains("Tensor group 1", heads.Message);

        var notHybrid = Assert.Throws<LlamaDistException>(() => ClusterModel.Create(new ClusterRequest
        {
            ModelPath = path, Workers = fixture.Endpoints(2), Split = "Tensor", TensorGroupSize = [1],
        }));
        Assert.Equal(LlamaErrorKind.InvalidArgument, notHybrid.Kind);
    }

    [Fact]
    public void AutoWeighsHybridGroupingsWithThreeWorkersAndRunsWhatItChose()
    {
        var path = fixture.ModelPath("F32");
        int[] expected;
        using (var local = LocalModel.Load(path, threads: 1))
        {
            expected = local.Generate(Greedy()).TokenIds;
        }
        using var cluster = ClusterModel.Create(new ClusterRequest { ModelPath = path, Workers = fixture.Endpoints(3), Split = "Auto" });

        // Three shards cannot share 2 KV heads, so the candidates are the layer plan and hybrid groupings.
        Assert.Contains("Layer ", cluster.Plan);
        Assert.Contains("Hybrid ", cluster.Plan);
        Assert.Contains("Tensor not possible", cluster.Plan);
        Assert.Contains(cluster.Split == "Hybrid" ? "Hybrid" : "Layer", cluster.Plan.Split(" (chosen)")[0]);
        Assert.All(cluster.Nodes, node => Assert.True(node.PredictedMsPerToken > 0));
        Assert.Equal(expected, cluster.Generate(Greedy()).TokenIds);
        Assert.All(cluster.Nodes, node => Assert.True(node.ObservedMsPerToken > 0));
    }

    [Fact]
    public void ALostWorkerFailsThePromptWithAWorkerErrorNamingIt()
    {
        var path = fixture.ModelPath("F32");
        int[] expected;
        using (var local = LocalModel.Load(path, threads: 1))
        {
            expected = local.Generate(Greedy(24)).TokenIds;
        }
        var victim = EmbeddedWorker.Start(new WorkerStartRequest
        {
            Port = 0, Threads = 1, Name = "hybrid-victim", CacheDirectory = Path.Combine(fixture.Directory, "cache-victim"),
        });
        try
        {
            using var cluster = ClusterModel.Create(new ClusterRequest
            {
                ModelPath = path, Workers = [.. fixture.Endpoints(2), victim.Endpoint], Split = "Hybrid", TensorGroupSize = [2, 1],
            });
            Assert.Equal(FailoverMode.None, cluster.Failover);
            int pieces = 0;
            var exception = Assert.Throws<LlamaDistException>(() => cluster.Generate(Greedy(24), _ =>
            {
                if (++pieces == 3)
                {
                    victim.Dispose();
                }
            }));
            Assert.Equal(LlamaErrorKind.WorkerUnreachable, exception.Kind);
            Assert.Contains(victim.Endpoint, exception.Message);
            Assert.Equal(victim.Endpoint, exception.Target);
            Assert.False(cluster.Health().Single(node => node.Endpoint == victim.Endpoint).Healthy);
            // What was generated before the loss comes with the error, as from a ring without failover.
            var partial = Assert.IsType<GenerationResult>(exception.PartialResult);
            Assert.Equal(StopReason.NodeFailed, partial.StopReason);
            Assert.InRange(partial.TokenIds.Length, 1, 23);
            Assert.Equal(expected.Take(partial.TokenIds.Length), partial.TokenIds);
        }
        finally
        {
            victim.Dispose();
        }
    }
}
