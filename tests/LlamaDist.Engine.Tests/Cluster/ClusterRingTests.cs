using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;
using LlamaDist.Engine.TestModels;
using LlamaDist.Engine.Workers;
using LlamaDist.Tests.Shared;

namespace LlamaDist.Engine.Tests.Cluster;

/// <summary>
/// Clusters of real workers on loopback: the ring gives the local result, counts one message per hop per token,
/// streams weights only when a worker has none, and refuses what it must.
/// </summary>
[Trait("Category", "Slow")]  // left out of build.ps1 -Task Test -Fast
public sealed class ClusterRingTests : IClassFixture<ClusterFixture>
{
    private const string Prompt = "The quick brown fox jumps over the lazy dog because";
    private readonly ClusterFixture fixture;

    public ClusterRingTests(ClusterFixture fixture) => this.fixture = fixture;

    private static GenerationRequest Greedy(int tokens = 12) => new() { Prompt = Prompt, MaxTokens = tokens, Temperature = 0, BatchSize = 5 };

    private static int[] LocalTokens(string path, GenerationRequest request)
    {
        using var model = LocalModel.Load(path, threads: 1);
        return model.Generate(request).TokenIds;
    }

    [SkippableFact]
    public unsafe void TheCoordinatorKeepsNoneOfTheModelFileMappedOnceTheWorkersHoldItsLayers()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Releasing mapped pages is a Linux call (madvise); elsewhere the file stays mapped.");
        var path = fixture.ModelPath("F32");
        var expected = LocalTokens(path, Greedy(4));

        // Loading hashes every range through the coordinator's mapping (the workers here map the same file on their
        // own, so the coordinator's mapping is found by an address in it).
        using var cluster = ClusterModel.Create(new ClusterRequest { ModelPath = path, Workers = fixture.Endpoints(2), Split = "Even" });
        var file = cluster.File;
        var mapping = (nint)file.GetTensorPointer(file.GetTensor("token_embd.weight"));
        Assert.True(file.FileSize > 1 << 20, "the test model should span many pages");
        Assert.Equal(0, MappedFileMemory.ResidentBytesOfMappingAt(mapping));

        Assert.Equal(expected, cluster.Generate(Greedy(4)).TokenIds);
        Assert.Equal(0, MappedFileMemory.ResidentBytesOfMappingAt(mapping));
    }

    [Theory]
    [InlineData("F32", 2, "F32")]
    [InlineData("F16", 2, "F16")]
    [InlineData("Q8_0", 3, "F16")]
    [InlineData("Q4_0", 2, "F16")]
    [InlineData("Q4_0", 3, "F32")]
    [InlineData("Q8_0", 3, "")]  // the default hand-off: F32
    public void GreedyTokensEqualTheLocalRun(string type, int workers, string encoding)
    {
        var path = fixture.ModelPath(type);
        var expected = LocalTokens(path, Greedy());
        var request = new ClusterRequest { ModelPath = path, Workers = fixture.Endpoints(workers), Split = "Even" };
        using var cluster = ClusterModel.Create(encoding.Length == 0 ? request : new ClusterRequest
        {
            ModelPath = path, Workers = request.Workers, Split = "Even", ActivationEncoding = encoding,
        });
        Assert.Equal(encoding.Length == 0 ? "F32" : encoding, cluster.ActivationEncoding);
        Assert.Equal(workers, cluster.Nodes.Count);
        Assert.Equal(4, cluster.Nodes.Sum(node => node.LayerEnd - node.LayerStart));

        var result = cluster.Generate(Greedy());
        if (cluster.ActivationEncoding == "F32")
        {
            Assert.Equal(expected, result.TokenIds);
        }
        else
        {
            using var local = LocalModel.Load(path, threads: 1);
            GreedyAgreement.AssertAgrees(local, local.Tokenize(Prompt), expected, result.TokenIds, GreedyAgreement.F16HandOffTieMargin);
        }
        Assert.Equal(workers, result.Stages.Count);
        Assert.All(result.Stages, stage => Assert.True(stage.ComputeMs > 0 && stage.BytesReceived > 0 && stage.BytesSent > 0));
    }

    [Theory]
    [InlineData("F32")]
    [InlineData("F16")]
    public void AOneLayerModelSplitsIntoItsBlockAndItsOutputHead(string encoding)
    {
        var path = ModelPaths.DefaultModelPath();
        var expected = LocalTokens(path, Greedy());
        // Even: Auto may find a tensor split of this tiny model faster on a busy machine; the head stage is a layer plan's.
        using var cluster = ClusterModel.Create(new ClusterRequest { ModelPath = path, Workers = fixture.Endpoints(2), Split = "Even", ActivationEncoding = encoding });
        Assert.Equal([(0, 1), (1, 2)], cluster.Nodes.Select(node => (node.LayerStart, node.LayerEnd)));
        Assert.Equal(["0-0", "output head"], cluster.Nodes.Select(node => node.Layers));
        // The head stage holds output_norm and the head (tied to the 32000 x 8 embedding here), the first stage
        // the embedding and the block, without the head.
        Assert.True(cluster.Nodes[1].WeightBytes > 32000 * 8 * 2);
        var result = cluster.Generate(Greedy());
        Assert.Equal(expected, result.TokenIds);
        Assert.All(result.Stages, stage => Assert.True(stage.ComputeMs > 0));
    }

    [Fact]
    public void ExplicitCountsEndingInZeroGiveTheHeadItsOwnNode()
    {
        var path = fixture.ModelPath("Q8_0");
        var expected = LocalTokens(path, Greedy());
        using var cluster = ClusterModel.Create(new ClusterRequest { ModelPath = path, Workers = fixture.Endpoints(3), LayerCounts = [3, 1, 0], ActivationEncoding = "F32" });
        Assert.Equal([(0, 3), (3, 4), (4, 5)], cluster.Nodes.Select(node => (node.LayerStart, node.LayerEnd)));
        Assert.Equal(expected, cluster.Generate(Greedy()).TokenIds);
    }

    [Fact]
    public void SeededSamplingEqualsTheLocalRunWithLogitsFromTheLastStage()
    {
        var path = fixture.ModelPath("F32");
        var request = new GenerationRequest { Prompt = Prompt, MaxTokens = 10, Temperature = 0.9f, Seed = 42, RepeatPenalty = 1.1f };
        var expected = LocalTokens(path, request);
        // Even: a tensor split (which Auto may measure as faster on loopback) sums each layer's partials in another
        // order, and a sampled draw near a probability boundary may then pick the neighbour.
        using var cluster = ClusterModel.Create(new ClusterRequest { ModelPath = path, Workers = fixture.Endpoints(2), Split = "Even", ActivationEncoding = "F32" });
        Assert.Equal(expected, cluster.Generate(request).TokenIds);
    }

    [Fact]
    public void IncludeLocalMakesThisProcessTheFirstStage()
    {
        var path = fixture.ModelPath("Q8_0");
        var expected = LocalTokens(path, Greedy());
        using var cluster = ClusterModel.Create(new ClusterRequest
        {
            ModelPath = path, Workers = fixture.Endpoints(2), IncludeLocal = true, LayerCounts = [1, 2, 1], Threads = 1, ActivationEncoding = "F32",
        });
        Assert.Equal(["local", .. fixture.Endpoints(2)], cluster.Nodes.Select(node => node.Endpoint));
        Assert.Equal([(0, 1), (1, 3), (3, 4)], cluster.Nodes.Select(node => (node.LayerStart, node.LayerEnd)));
        Assert.Equal(expected, cluster.Generate(Greedy()).TokenIds);
    }

    [Fact]
    public void ClusterIsReusedAcrossPrompts()
    {
        var path = fixture.ModelPath("Q4_0");
        using var cluster = ClusterModel.Create(new ClusterRequest { ModelPath = path, Workers = fixture.Endpoints(2), ActivationEncoding = "F32" });
        var first = cluster.Generate(Greedy(6)).TokenIds;
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(first, cluster.Generate(Greedy(6)).TokenIds);
        }
        Assert.All(fixture.Workers.Take(2), worker => Assert.Equal(0, worker.OpenSessions));
    }

    [Fact]
    public void EachDecodedTokenIsOneMessagePerHopCarryingTheHiddenStateInF16()
    {
        var path = fixture.ModelPath("Q8_0");
        var endpoints = fixture.Endpoints(3);
        int embd = ModelInspector.Inspect(path).EmbeddingLength;
        using var cluster = ClusterModel.Create(new ClusterRequest { ModelPath = path, Workers = endpoints, Split = "Even", ActivationEncoding = "F16" });
        var before = endpoints.Select(endpoint => WorkerInspector.Query(endpoint)).ToArray();
        var request = new GenerationRequest { Prompt = Prompt, MaxTokens = 9, Temperature = 0, BatchSize = 512 };  // the prompt is one step
        var result = cluster.Generate(request);
        var after = endpoints.Select(endpoint => WorkerInspector.Query(endpoint)).ToArray();
        Assert.Equal(9, result.TokenIds.Length);

        // Steps: one for the prompt, then one per decoded token after the first (llama.cpp's eval runs).
        long steps = 1 + result.EvalRuns;
        for (int i = 0; i < endpoints.Length; i++)
        {
            // Exactly one message in and one out per step on every worker: N + 1 transfers per token in all.
            Assert.Equal(steps, (long)(after[i].ForwardMessagesReceived - before[i].ForwardMessagesReceived));
            Assert.Equal(steps, (long)(after[i].ForwardMessagesSent - before[i].ForwardMessagesSent));
        }

        // Into the second and third stage: the hidden state of every token in f16 (n_embd x 2 bytes) plus a
        // small header per message (session id, positions, stage timings).
        long hiddenBytes = (result.PromptTokenIds.Length + result.EvalRuns) * embd * 2L;
        for (int i = 1; i < endpoints.Length; i++)
        {
            long received = after[i].ForwardBytesReceived - before[i].ForwardBytesReceived;
            Assert.InRange(received - hiddenBytes, 1, steps * 128);
        }
        // The last stage answers with the greedy token, not logits: a small header only.
        Assert.InRange(after[2].ForwardBytesSent - before[2].ForwardBytesSent, steps, steps * 128);
    }

    [Fact]
    public void WeightsAreStreamedOnceThenLoadedFromTheWorkersCache()
    {
        var path = fixture.ModelPath("F16");
        var empty = Path.Combine(fixture.Directory, "no-models");
        Directory.CreateDirectory(empty);
        using var worker = EmbeddedWorker.Start(new WorkerStartRequest
        {
            Port = 0, Threads = 1, ModelPath = empty, CacheDirectory = Path.Combine(fixture.Directory, "stream-cache"),
        });
        var expected = LocalTokens(path, Greedy(6));

        using (var first = ClusterModel.Create(new ClusterRequest { ModelPath = path, Workers = [worker.Endpoint, fixture.Workers[0].Endpoint], Split = "Even", ActivationEncoding = "F32" }))
        {
            Assert.True(first.Nodes[0].BytesStreamed == first.Nodes[0].WeightBytes && first.Nodes[0].BytesStreamed > 0);
            Assert.Equal("streamed", first.Nodes[0].WeightSource);
            Assert.Equal(0, first.Nodes[1].BytesStreamed);  // the other worker reads the coordinator's path
            Assert.Equal("model file", first.Nodes[1].WeightSource);
            Assert.Equal(expected, first.Generate(Greedy(6)).TokenIds);
        }
        using (var second = ClusterModel.Create(new ClusterRequest { ModelPath = path, Workers = [worker.Endpoint, fixture.Workers[0].Endpoint], Split = "Even", ActivationEncoding = "F32" }))
        {
            Assert.Equal("cache", second.Nodes[0].WeightSource);
            Assert.Equal(0, second.Nodes[0].BytesStreamed);
            Assert.Equal(expected, second.Generate(Greedy(6)).TokenIds);
        }
    }

    [Fact]
    public void AWorkerWhoseCopyDiffersIsRefusedAsModelMismatch()
    {
        var path = fixture.ModelPath("Q8_0");
        var otherDirectory = Path.Combine(fixture.Directory, "other-models");
        Directory.CreateDirectory(otherDirectory);
        TestModelFactory.Create(Path.Combine(otherDirectory, Path.GetFileName(path)), "Small", "Q8_0", seed: 6, vocabularyFrom: null, overwrite: true);
        using var worker = EmbeddedWorker.Start(new WorkerStartRequest { Port = 0, Threads = 1, ModelPath = otherDirectory, CacheDirectory = Path.Combine(fixture.Directory, "mismatch-cache") });

        var error = Assert.Throws<LlamaDistException>(() => ClusterModel.Create(new ClusterRequest { ModelPath = path, Workers = [worker.Endpoint] }));
        Assert.Equal(LlamaErrorKind.ModelMismatch, error.Kind);
        Assert.Equal(worker.Endpoint, error.Target);
        Assert.Contains("differs", error.Message);
    }

    [Fact]
    public void AnUnreachableWorkerIsNamed()
    {
        var error = Assert.Throws<LlamaDistException>(() => ClusterModel.Create(new ClusterRequest
        {
            ModelPath = fixture.ModelPath("F16"), Workers = [fixture.Workers[0].Endpoint, "127.0.0.1:1"],
        }));
        Assert.Equal(LlamaErrorKind.WorkerUnreachable, error.Kind);
        Assert.Equal("127.0.0.1:1", error.Target);
    }

    [Fact]
    public void ABusyPortIsReportedAsPortInUse()
    {
        var port = int.Parse(fixture.Workers[0].Endpoint.Split(':')[1]);
        var error = Assert.Throws<LlamaDistException>(() => EmbeddedWorker.Start(new WorkerStartRequest { Port = port, Threads = 1 }));
        Assert.Equal(LlamaErrorKind.PortInUse, error.Kind);
    }

    [Fact]
    public void TooManyNodesForTheLayersIsAPlanningError()
    {
        var error = Assert.Throws<LlamaDistException>(() => ClusterModel.Create(new ClusterRequest
        {
            ModelPath = fixture.ModelPath("F16"), Workers = fixture.Endpoints(2), LayerCounts = [3, 3],
        }));
        Assert.Equal(LlamaErrorKind.PlanningFailed, error.Kind);
    }
}
