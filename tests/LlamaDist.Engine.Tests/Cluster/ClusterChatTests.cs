using LlamaDist.Engine.Chat;
using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;
using LlamaDist.Engine.Workers;

namespace LlamaDist.Engine.Tests.Cluster;

/// <summary>A chat on two loopback workers renders, tokenizes, generates and stops exactly as the same chat run locally.</summary>
public sealed class ClusterChatTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), $"llamadist-chat-{Guid.NewGuid():N}");
    private readonly EmbeddedWorker[] workers;

    public ClusterChatTests()
    {
        Directory.CreateDirectory(directory);
        workers = Enumerable.Range(0, 2).Select(i => EmbeddedWorker.Start(new WorkerStartRequest
        {
            Port = 0,
            Threads = 1,
            Name = $"chat-worker-{i}",
            CacheDirectory = Path.Combine(directory, $"cache-{i}"),
        })).ToArray();
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

    [Fact]
    public void AChatOnAClusterEqualsTheLocalChat()
    {
        var path = ModelPaths.DefaultModelPath();
        ChatRequest Request(string[] stop) => new()
        {
            Messages = [new ChatTurn("system", "Be brief."), new ChatTurn("user", "Hello"), new ChatTurn("assistant", "Hi!"), new ChatTurn("user", "Go on")],
            TemplateName = "llama2-sys",
            Generation = new GenerationRequest { Prompt = "", MaxTokens = 12, Temperature = 0, Stop = stop },
        };

        ChatResult local;
        using (var model = LocalModel.Load(path, threads: 1))
        {
            local = model.Chat(Request([]));
        }
        // Even: a layer split gives the local bits; a tensor split (Auto's pick when loopback measures fast) sums
        // partials in another order and may flip a near-tie in this 12-token reply.
        // A generous stage timeout (it also bounds the health probe before each prompt): this test is about the
        // chat's bits, and a full parallel run on two cores once kept both probes past the 5 s default, so the ring
        // found no node to open.
        using var cluster = ClusterModel.Create(new ClusterRequest
        {
            ModelPath = path, Workers = workers.Select(w => w.Endpoint).ToArray(), Split = "Even", ActivationEncoding = "F32",
            StageTimeout = TimeSpan.FromSeconds(30),
        });
        var remote = cluster.Chat(Request([]));

        Assert.Equal("llama2-sys", remote.TemplateName);
        Assert.Equal(local.RenderedPrompt, remote.RenderedPrompt);
        Assert.Equal(local.Generation.PromptTokenIds, remote.Generation.PromptTokenIds);
        Assert.Equal(local.Generation.TokenIds, remote.Generation.TokenIds);
        Assert.Equal(local.Generation.Text, remote.Generation.Text);

        // A stop string from the middle of the reply ends the cluster's text where it ends the local one.
        var text = local.Generation.Text;
        Assert.True(text.Length >= 6, $"reply too short to pick a stop string from: '{text}'");
        var stop = text.Substring(3, 3);
        var stopped = cluster.Chat(Request([stop]));
        Assert.Equal(StopReason.StopString, stopped.Generation.StopReason);
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], stopped.Generation.Text);
    }
}
