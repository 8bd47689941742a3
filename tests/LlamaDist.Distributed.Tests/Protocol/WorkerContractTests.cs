using Google.Protobuf;
using Google.Protobuf.Reflection;
using LlamaDist.Distributed.Activations;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Tests.Protocol;

/// <summary>Checks the generated contract against the rules of the wire protocol, without opening any port.</summary>
public sealed class WorkerContractTests
{
    private static FileDescriptor File => WorkerReflection.Descriptor;

    [Fact]
    public void Package_IsVersioned()
    {
        Assert.Equal("llamadist.v1", File.Package);
        Assert.Equal("llamadist/v1/worker.proto", File.Name);
    }

    [Fact]
    public void EveryEnum_HasUnspecifiedZero()
    {
        var enums = File.EnumTypes.Concat(File.MessageTypes.SelectMany(message => message.EnumTypes)).ToList();
        Assert.NotEmpty(enums);
        foreach (EnumDescriptor enumType in enums)
        {
            EnumValueDescriptor zero = enumType.FindValueByNumber(0);
            Assert.NotNull(zero);
            Assert.EndsWith("_UNSPECIFIED", zero.Name);
        }
    }

    [Theory]
    [InlineData("Handshake", false, false)]
    [InlineData("GetStatus", false, false)]
    [InlineData("LoadRange", false, false)]
    [InlineData("StreamWeights", true, false)]
    [InlineData("ReleaseRange", false, false)]
    [InlineData("OpenSession", false, false)]
    [InlineData("CloseSession", false, false)]
    [InlineData("Forward", true, true)]
    [InlineData("Shutdown", false, false)]
    [InlineData("RenewLease", false, false)]
    [InlineData("LoadShard", false, false)]
    [InlineData("ReleaseShard", false, false)]
    [InlineData("OpenShardSession", false, false)]
    [InlineData("CloseShardSession", false, false)]
    [InlineData("ShardStep", true, true)]
    [InlineData("MeasureLink", false, false)]
    [InlineData("EchoLink", true, true)]
    public void Service_MethodsHaveTheirStreamingShape(string name, bool clientStreaming, bool serverStreaming)
    {
        ServiceDescriptor service = Assert.Single(File.Services);
        Assert.Equal("LlamaWorker", service.Name);
        MethodDescriptor method = service.FindMethodByName(name);
        Assert.NotNull(method);
        Assert.Equal(clientStreaming, method.IsClientStreaming);
        Assert.Equal(serverStreaming, method.IsServerStreaming);
    }

    [Fact]
    public void Service_HasExactlyTheContractMethods()
    {
        Assert.Equal(
            ["Handshake", "GetStatus", "LoadRange", "StreamWeights", "ReleaseRange", "OpenSession", "CloseSession", "Forward", "Shutdown", "RenewLease",
                "LoadShard", "ReleaseShard", "OpenShardSession", "CloseShardSession", "ShardStep", "MeasureLink", "EchoLink"],
            File.Services[0].Methods.Select(method => method.Name));
    }

    [Fact]
    public void GeneratedClientAndServerBase_Exist()
    {
        // GrpcServices="Both": the worker host derives from the base, the coordinator uses the client.
        Assert.True(typeof(LlamaWorker.LlamaWorkerBase).IsAbstract);
        Assert.True(typeof(Grpc.Core.ClientBase).IsAssignableFrom(typeof(LlamaWorker.LlamaWorkerClient)));
    }

    [Fact]
    public void Handshake_CarriesVersionAndCredentials()
    {
        var request = new HandshakeRequest { Protocol = WireProtocol.Current, AuthToken = "secret", ClientName = "test" };
        HandshakeRequest parsed = HandshakeRequest.Parser.ParseFrom(request.ToByteArray());
        Assert.Equal(WireProtocol.Major, parsed.Protocol.Major);
        Assert.Equal(WireProtocol.Minor, parsed.Protocol.Minor);
        Assert.Equal("secret", parsed.AuthToken);
    }

    [Fact]
    public void WireProtocol_AcceptsSameMajorOnly()
    {
        Assert.Equal(1u, WireProtocol.Major);
        Assert.True(WireProtocol.IsCompatible(new ProtocolVersion { Major = WireProtocol.Major, Minor = 7 }));
        Assert.False(WireProtocol.IsCompatible(new ProtocolVersion { Major = WireProtocol.Major + 1 }));
        Assert.False(WireProtocol.IsCompatible(new ProtocolVersion()));
    }

    [Fact]
    public void ForwardDecodeStep_IsAboutEmbeddingTimesTwoBytes()
    {
        // One decode hop of a 2048-wide model: the f16 payload plus a few dozen bytes of framing.
        var request = new ForwardRequest
        {
            SessionId = Guid.Empty.ToString(),
            Sequence = 1000,
            StartPosition = 812,
            TokenCount = 1,
            Hidden = ActivationCodec.ToMessage(new float[2048], 1, 2048, ActivationEncoding.F16),
        };
        int size = request.CalculateSize();
        Assert.InRange(size, 4096, 4096 + 80);
        ForwardRequest parsed = ForwardRequest.Parser.ParseFrom(request.ToByteArray());
        Assert.Equal(ForwardRequest.InputOneofCase.Hidden, parsed.InputCase);
        Assert.Equal(812u, parsed.StartPosition);
    }

    [Fact]
    public void LoadRange_CarriesAPathHintAndAStreamOfferTogether()
    {
        // The worker tries its own copy (located by the path) first and asks for the stream only without one,
        // so a coordinator sends both in one call.
        var request = new LoadRangeRequest
        {
            Model = new ModelIdentity { FileName = "tiny.gguf", RangeHash = new string('a', 64) },
            Layers = new LayerSpan { Start = 4, EndExclusive = 8, ModelLayerCount = 8 },
            WorkerPath = "/models/tiny.gguf",
            Stream = new WeightStreamSource { TotalBytes = 1234, TensorCount = 9 },
        };
        var parsed = LoadRangeRequest.Parser.ParseFrom(request.ToByteArray());
        Assert.Equal("/models/tiny.gguf", parsed.WorkerPath);
        Assert.Equal(1234ul, parsed.Stream.TotalBytes);
    }
}
