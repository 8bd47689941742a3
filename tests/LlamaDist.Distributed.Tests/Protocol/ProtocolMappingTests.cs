using Google.Protobuf;
using LlamaDist.Core.Model;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Tests.Protocol;

/// <summary>Engine types to wire messages and back: what a worker rebuilds must be what the coordinator meant.</summary>
public sealed class ProtocolMappingTests
{
    private static LlamaConfig TinyLlama() => new(2048, 22, 5632, 32, 4, 1e-5f, 2048, 32000, ropeFreqBase: 10000f);

    [Fact]
    public void ModelConfig_RoundTripsThroughTheWire()
    {
        var config = TinyLlama();
        var parsed = ModelConfig.Parser.ParseFrom(ProtocolMapping.ToMessage(config).ToByteArray());
        var back = ProtocolMapping.ToConfig(parsed);
        Assert.Equal(
            (config.EmbeddingLength, config.LayerCount, config.FeedForwardLength, config.HeadCount, config.KvHeadCount, config.HeadDimension,
                config.RmsEpsilon, config.RopeFreqBase, config.RopeDimensionCount, config.ContextLength, config.VocabularySize),
            (back.EmbeddingLength, back.LayerCount, back.FeedForwardLength, back.HeadCount, back.KvHeadCount, back.HeadDimension,
                back.RmsEpsilon, back.RopeFreqBase, back.RopeDimensionCount, back.ContextLength, back.VocabularySize));
    }

    [Fact]
    public void ModelConfig_OfAnotherArchitectureOrInconsistentShapeIsRefused()
    {
        var message = ProtocolMapping.ToMessage(TinyLlama());
        message.Architecture = "falcon";
        Assert.Throws<ArgumentException>(() => ProtocolMapping.ToConfig(message));
        message = ProtocolMapping.ToMessage(TinyLlama());
        message.KvHeadCount = 5;  // 32 heads cannot share 5 kv heads
        Assert.Throws<ArgumentException>(() => ProtocolMapping.ToConfig(message));
    }

    [Theory]
    [InlineData(0, 11, false)]
    [InlineData(11, 22, false)]
    [InlineData(0, 22, false)]
    [InlineData(11, 22, true)]
    public void LayerSpan_RoundTrips(int start, int end, bool outputElsewhere)
    {
        var range = new LayerRange(start, end);
        if (outputElsewhere) range = range.WithOutputElsewhere();
        var span = LayerSpan.Parser.ParseFrom(ProtocolMapping.ToMessage(range, 22).ToByteArray());
        Assert.Equal(range, ProtocolMapping.ToRange(span, 22));
        Assert.Equal(end == 22 && !outputElsewhere, ProtocolMapping.ToRange(span, 22).IncludesOutput(22));
    }

    [Fact]
    public void LayerSpan_OfTheOutputHeadAloneIsEmptyAtTheEnd()
    {
        var span = ProtocolMapping.ToMessage(LayerRange.OutputHead(22), 22);
        Assert.Equal((22u, 22u, false), (span.Start, span.EndExclusive, span.OutputElsewhere));
        Assert.True(ProtocolMapping.ToRange(span, 22).IsOutputHeadOnly);
    }

    [Theory]
    [InlineData(4, 8, 22, 8)]     // written for another model
    [InlineData(20, 23, 22, 22)]  // past the last layer
    [InlineData(5, 5, 22, 22)]    // empty in the middle
    [InlineData(8, 4, 22, 22)]    // backwards
    public void LayerSpan_ThatDoesNotFitTheModelIsRefused(int start, int end, int spanLayers, int modelLayers)
    {
        var span = new LayerSpan { Start = (uint)start, EndExclusive = (uint)end, ModelLayerCount = (uint)spanLayers };
        Assert.ThrowsAny<ArgumentException>(() => ProtocolMapping.ToRange(span, modelLayers));
    }

    [Theory]
    [InlineData("127.0.0.1:50052", "127.0.0.1", 50052, "127.0.0.1:50052")]
    [InlineData("pc1", "pc1", 50052, "pc1:50052")]
    [InlineData("http://mac1:6000/", "mac1", 6000, "mac1:6000")]
    [InlineData("[::1]:7000", "::1", 7000, "[::1]:7000")]
    [InlineData(" localhost:1 ", "localhost", 1, "localhost:1")]
    public void WorkerEndpoint_ParsesWhatUsersType(string text, string host, int port, string normalised)
    {
        var endpoint = WorkerEndpoint.Parse(text);
        Assert.Equal((host, port, normalised), (endpoint.Host, endpoint.Port, endpoint.ToString()));
        Assert.Equal(normalised, WorkerEndpoint.Parse(endpoint.ToString()).ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("pc1:0")]
    [InlineData("pc1:65536")]
    [InlineData("pc1:http")]
    [InlineData("[::1")]
    [InlineData("[::1]x")]
    [InlineData("a b:1")]
    public void WorkerEndpoint_RefusesMalformedInputWithAReason(string text)
    {
        Assert.False(WorkerEndpoint.TryParse(text, out _, out var problem));
        Assert.NotEmpty(problem);
        Assert.Throws<FormatException>(() => WorkerEndpoint.Parse(text));
    }

    [Fact]
    public void WorkerEndpoint_KnowsLoopback()
    {
        Assert.True(WorkerEndpoint.Parse("127.0.0.9:1").IsLoopback);
        Assert.True(WorkerEndpoint.Parse("[::1]:1").IsLoopback);
        Assert.True(WorkerEndpoint.Parse("localhost:1").IsLoopback);
        Assert.False(WorkerEndpoint.Parse("192.168.1.4:1").IsLoopback);
    }
}
