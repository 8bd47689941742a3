using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Tests.Cluster;

/// <summary>
/// -Split Tensor on real workers over loopback: each worker a slice of every layer, the same greedy tokens as the
/// local run, the plan visible per node, and the cases a tensor split cannot serve refused clearly.
/// </summary>
public sealed class ClusterTensorTests : IClassFixture<ClusterFixture>
{
    private const string Prompt = "The quick brown fox jumps over the lazy dog because";
    private readonly ClusterFixture fixture;

    public ClusterTensorTests(ClusterFixture fixture) => this.fixture = fixture;

    private static GenerationRequest Greedy(int tokens = 12) => new() { Prompt = Prompt, MaxTokens = tokens, Temperature = 0, BatchSize = 5 };

    [Theory]
    [InlineData("F32", "F32")]
    [InlineData("Q8_0", "F32")]
    [InlineData("F16", "F16")]
    public void GreedyTokensEqualTheLocalRun(string type, string encoding)
    {
        var path = fixture.ModelPath(type);
        int[] expected;
        using (var local = LocalModel.Load(path, threads: 1))
        {
            expected = local.Generate(Greedy()).TokenIds;
        }
        using var cluster = ClusterModel.Create(new ClusterRequest { ModelPath = path, Workers = fixture.Endpoints(2), Split = "Tensor", ActivationEncoding = encoding });

        Assert.Equal("Tensor", cluster.Split);
        Assert.Equal(encoding, cluster.ActivationEncoding);
        Assert.All(cluster.Nodes, node => Assert.Equal((0, 4), (node.LayerStart, node.LayerEnd)));
        Assert.Equal(["all: KV heads 0-0, FFN 0-351, vocab 0-15999", "all: KV heads 1-1, FFN 352-703, vocab 16000-31999"],
            cluster.Nodes.Select(node => node.Layers).ToArray());
        Assert.All(cluster.Nodes, node => Assert.True(node.WeightBytes > 0));

        var result = cluster.Generate(Greedy());
        Assert.Equal(expected, result.TokenIds);
        Assert.Equal(2, result.Stages.Count);
        Assert.All(result.Stages, stage => Assert.True(stage.ComputeMs > 0 && stage.BytesReceived > 0 && stage.BytesSent > 0));
    }

    [Fact]
    public void MoreWorkersThanKvHeadsIsAPlanningError()
    {
        var exception = Assert.Throws<LlamaDistException>(() => ClusterModel.Create(new ClusterRequest
        {
            ModelPath = fixture.ModelPath("F32"), Workers = fixture.Endpoints(3), Split = "Tensor",
        }));
        Assert.Equal(LlamaErrorKind.PlanningFailed, exception.Kind);
        Assert.Contains("2 KV heads", exception.Message);
    }

    [Fact]
    public void IncludeLocalAndAnUnknownEncodingAreRefused()
    {
        var local = Assert.Throws<LlamaDistException>(() => ClusterModel.Create(new ClusterRequest
        {
            ModelPath = fixture.ModelPath("F32"), Workers = fixture.Endpoints(2), Split = "Tensor", IncludeLocal = true,
        }));
        Assert.Equal(LlamaErrorKind.InvalidArgument, local.Kind);
        var encoding = Assert.Throws<LlamaDistException>(() => ClusterModel.Create(new ClusterRequest
        {
            ModelPath = fixture.ModelPath("F32"), Workers = fixture.Endpoints(2), Split = "Tensor", ActivationEncoding = "Q4_0",
        }));
        Assert.Equal(LlamaErrorKind.InvalidArgument, encoding.Kind);
    }

    [Fact]
    public void AutoMeasuresPredictsBothSplitsAndObservesTheChosenOne()
    {
        var path = fixture.ModelPath("F32");
        int[] expected;
        using (var local = LocalModel.Load(path, threads: 1))
        {
            expected = local.Generate(Greedy()).TokenIds;
        }
        using var cluster = ClusterModel.Create(new ClusterRequest { ModelPath = path, Workers = fixture.Endpoints(2), Split = "Auto" });

        Assert.Contains("Layer ", cluster.Plan);
        Assert.Contains("Tensor ", cluster.Plan);
        Assert.Contains("(chosen)", cluster.Plan);
        Assert.Contains(cluster.Split == "Tensor" ? "Tensor" : "Layer", cluster.Plan.Split(" (chosen)")[0]);
        Assert.All(cluster.Nodes, node => Assert.True(node.PredictedMsPerToken > 0));
        Assert.All(cluster.Nodes, node => Assert.Equal(0, node.ObservedMsPerToken));

        Assert.Equal(expected, cluster.Generate(Greedy()).TokenIds);
        Assert.All(cluster.Nodes, node => Assert.True(node.ObservedMsPerToken > 0));
    }
}
