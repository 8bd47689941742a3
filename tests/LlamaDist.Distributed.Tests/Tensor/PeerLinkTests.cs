using System.Net.Sockets;
using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Tensor;
using LlamaDist.Distributed.Tests.Worker;
using LlamaDist.Worker.State.Tensor;

namespace LlamaDist.Distributed.Tests.Tensor;

/// <summary>
/// The links tensor-parallel shards exchange partial sums on: a worker's peer port answers only a connector that
/// proves the session's secret for a session open there, closes everything else without an answer, and a peer
/// that sends out of step breaks its own session, not the worker.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class PeerLinkTests
{
    private static readonly int[] Prompt = [1, 15043, 3186, 29892, 920];
    private readonly WorkerModels models;

    public PeerLinkTests(WorkerModels models) => this.models = models;

    [Fact]
    public async Task Strangers_on_the_peer_port_get_no_answer_and_the_session_still_links()
    {
        await using var group = await TensorTestGroup.StartAsync(models, models.F32Path, 2);
        using var session = await TensorGroupSession.OpenAsync(group.Shards, group.Options(ReductionEncoding.F32), default);
        int port = group.Shards[1].PeerPort;
        var target = new PeerAddress("127.0.0.1", port, Tls: false, []);

        // Not the link's protocol at all.
        Assert.Empty(await ExchangeAsync(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray()));
        // A well-formed hello for a session that is not open here.
        Assert.Empty(await ExchangeAsync(port, PeerWire.EncodeHello(new PeerWire.Hello(0, 1, "no-such-session", RandomNumberGenerator.GetBytes(32)))));
        // The real session, but from a higher shard (links run from lower shards to higher ones).
        Assert.Empty(await ExchangeAsync(port, PeerWire.EncodeHello(new PeerWire.Hello(1, 1, session.Id, RandomNumberGenerator.GetBytes(32)))));
        // A connector without the secret: the worker's own proof does not check out against a guessed secret...
        var guessed = RandomNumberGenerator.GetBytes(PeerWire.SecretBytes);
        var refusal = await Assert.ThrowsAsync<PeerLinkException>(() =>
            Task.Run(() => PeerLink.Connect(target, guessed, 0, 1, session.Id, TimeSpan.FromSeconds(5), default)));
        Assert.Contains("did not prove", refusal.Message);
        // ...and a made-up proof gets the connection closed instead of the accepting byte.
        using (var client = new TcpClient())
        {
            await client.ConnectAsync("127.0.0.1", port);
            var stream = client.GetStream();
            await stream.WriteAsync(PeerWire.EncodeHello(new PeerWire.Hello(0, 1, session.Id, RandomNumberGenerator.GetBytes(32))));
            await stream.ReadExactlyAsync(new byte[PeerWire.ChallengeBytes + PeerWire.ProofBytes]);
            await stream.WriteAsync(RandomNumberGenerator.GetBytes(PeerWire.ProofBytes));
            Assert.Equal(0, await ReadToEndAsync(stream));
        }
        // More idle connections than handshakes may run at once: those over the limit are closed at once.
        var idle = new List<TcpClient>();
        try
        {
            for (int i = 0; i < PeerListener.MaxPendingHandshakes + 4; i++)
            {
                var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                idle.Add(client);
            }
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (group.Workers[1].Runtime.Shards.RefusedPeerLinks < 5 + 4 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }
            Assert.True(group.Workers[1].Runtime.Shards.RefusedPeerLinks >= 5 + 4, $"{group.Workers[1].Runtime.Shards.RefusedPeerLinks} refused");
        }
        finally
        {
            idle.ForEach(client => client.Dispose());
        }
        // Closed connections free their handshakes' places at once.
        var freed = DateTime.UtcNow.AddSeconds(10);
        while (group.Workers[1].Runtime.Shards.PendingPeerHandshakes > 0 && DateTime.UtcNow < freed)
        {
            await Task.Delay(20);
        }
        Assert.Equal(0, group.Workers[1].Runtime.Shards.PendingPeerHandshakes);

        // None of that touched the session: its shards link and it gives the local greedy tokens.
        int[] expected = models.LocalGreedy(models.F32Path, Prompt, 3);
        var actual = new List<int> { session.EvaluateGreedy(Prompt).Token };
        while (actual.Count < expected.Length)
        {
            actual.Add(session.EvaluateGreedy([actual[^1]]).Token);
        }
        Assert.Equal(expected, actual);
    }

    [Fact]
    public async Task A_peer_out_of_step_breaks_its_session_with_a_clear_status_and_nothing_else()
    {
        await using var group = await TensorTestGroup.StartAsync(models, models.F32Path, 2);
        var worker = group.Workers[1];
        var shard = group.Shards[1];
        // The test plays shard 0 of a session opened on the second worker only, so it holds the secret.
        var secret = RandomNumberGenerator.GetBytes(PeerWire.SecretBytes);
        string id = Guid.NewGuid().ToString("N");
        var open = new OpenShardSessionRequest
        {
            SessionId = id, ShardId = shard.ShardId, ContextSize = 64, MaxBatchTokens = 16, Encoding = ReductionEncoding.F32,
            PeerSecret = ByteString.CopyFrom(secret), OwnerId = shard.Worker.OwnerId,
        };
        open.Peers.Add(new ShardPeer { Endpoint = group.Workers[0].Endpoint.ToString(), PeerPort = (uint)group.Shards[0].PeerPort });
        open.Peers.Add(new ShardPeer());
        await worker.Client.OpenShardSessionAsync(open);

        // A secret of the wrong size is refused when the session opens.
        var shortSecret = open.Clone();
        shortSecret.SessionId = Guid.NewGuid().ToString("N");
        shortSecret.PeerSecret = ByteString.CopyFrom(new byte[8]);
        var invalid = await Assert.ThrowsAsync<RpcException>(async () => await worker.Client.OpenShardSessionAsync(shortSecret));
        Assert.Equal(StatusCode.InvalidArgument, invalid.StatusCode);

        using var link = await Task.Run(() => PeerLink.Connect(new PeerAddress("127.0.0.1", shard.PeerPort, Tls: false, []), secret, 0, 1, id,
            TimeSpan.FromSeconds(5), default));
        using var steps = worker.Client.ShardStep();
        var step = new ShardStepRequest { SessionId = id, Sequence = 1, StartPosition = 0 };
        step.Tokens.Add(1);
        await steps.RequestStream.WriteAsync(step);

        // The worker's own partial arrives first, framed as the layout says...
        var header = new byte[PeerWire.FrameHeaderBytes];
        link.Receive(header);
        var (sequence, tokens, bytes) = PeerWire.ReadFrameHeader(header);
        Assert.Equal((0UL, 1U, (uint)(models.Config.EmbeddingLength * sizeof(float))), (sequence, tokens, bytes));
        // ...and a header that claims another size is refused before any payload is read.
        PeerWire.WriteFrameHeader(header, 0, 1, 12);
        link.Send(header);
        var failure = await Assert.ThrowsAsync<RpcException>(async () => await steps.ResponseStream.MoveNext(default));
        Assert.Equal(StatusCode.DataLoss, failure.StatusCode);
        Assert.Contains("expected 0 of 1", failure.Status.Detail);

        // The session stays broken; the worker serves a new session of both shards as before.
        using var again = worker.Client.ShardStep();
        await again.RequestStream.WriteAsync(step);
        var broken = await Assert.ThrowsAsync<RpcException>(async () => await again.ResponseStream.MoveNext(default));
        Assert.Equal(StatusCode.FailedPrecondition, broken.StatusCode);
        using var session = await TensorGroupSession.OpenAsync(group.Shards, group.Options(ReductionEncoding.F32), default);
        Assert.Equal(models.LocalGreedy(models.F32Path, Prompt, 1)[0], session.EvaluateGreedy(Prompt).Token);
    }

    [SkippableFact]
    public async Task Both_ends_of_a_link_block_in_the_socket_so_a_partial_sum_wakes_its_reader_directly()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "A socket's blocking mode is read from /proc/self/fdinfo, which only Linux has.");
        await using var group = await TensorTestGroup.StartAsync(models, models.F32Path, 2);
        using var session = await TensorGroupSession.OpenAsync(group.Shards, group.Options(ReductionEncoding.F32), default);
        Assert.Equal(models.LocalGreedy(models.F32Path, Prompt, 1)[0], session.EvaluateGreedy(Prompt).Token);

        // The dialling end (shard 0) and the accepting end (shard 1) of the one link the step made.
        var dialled = group.Workers[0].Runtime.Shards.FindSession(session.Id)!.Reduction.LinkTo(1);
        var accepted = group.Workers[1].Runtime.Shards.FindSession(session.Id)!.Reduction.LinkTo(0);
        Assert.NotNull(dialled);
        Assert.NotNull(accepted);
        Assert.False(IsNonBlocking(dialled.Handle), "the dialling end's socket is non-blocking");
        Assert.False(IsNonBlocking(accepted.Handle), "the accepting end's socket is non-blocking");
    }

    /// <summary>Whether the open file <paramref name="descriptor"/> of this process has O_NONBLOCK (octal 04000 in its flags).</summary>
    private static bool IsNonBlocking(nint descriptor)
    {
        var flags = File.ReadLines($"/proc/self/fdinfo/{descriptor}").Single(line => line.StartsWith("flags:", StringComparison.Ordinal));
        return (Convert.ToInt64(flags["flags:".Length..].Trim(), 8) & 0x800) != 0;
    }

    /// <summary>Sends <paramref name="bytes"/> to the peer port and returns everything it answers until it closes.</summary>
    private static async Task<byte[]> ExchangeAsync(int port, byte[] bytes)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
        var stream = client.GetStream();
        await stream.WriteAsync(bytes);
        var answer = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await stream.CopyToAsync(answer, timeout.Token);
        return answer.ToArray();
    }

    private static async Task<int> ReadToEndAsync(Stream stream)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var answer = new MemoryStream();
        await stream.CopyToAsync(answer, timeout.Token);
        return (int)answer.Length;
    }
}
