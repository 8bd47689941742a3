using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Tensor;
using LlamaDist.Distributed.Tests.Worker;
using LlamaDist.Distributed.Tests.Worker.Fuzz;
using LlamaDist.Tests.Shared;
using LlamaDist.Worker.State.Tensor;
using Xunit.Abstractions;

namespace LlamaDist.Distributed.Tests.Tensor;

/// <summary>
/// Hundreds of hostile connections (fixed seed) to a worker's peer port while a tensor session is open there:
/// random bytes, hellos with flipped bits, hostile shard numbers and id lengths, truncated hellos, and hellos for
/// the real session followed by made-up proofs. A stranger may get at most the worker's challenge and proof (64
/// bytes, only for a hello that names an open session from a lower shard) and never the accepting byte; no
/// handshake may stay behind; and afterwards the session's shards must still link and give the local greedy tokens.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class PeerPortFuzzTests(WorkerModels models, ITestOutputHelper output)
{
    private const int QuickCaseCount = 300;
    private const ulong Seed = 0x9EE2_0F0A_7C11;
    private static readonly int[] Prompt = [1, 15043, 3186, 29892, 920];

    [Fact]
    [Trait("Category", FuzzSettings.Category)]
    public async Task Hostile_connections_get_no_link_and_the_session_still_links()
    {
        int caseCount = FuzzSettings.Iterations(QuickCaseCount);
        ulong seed = FuzzSettings.Seed(Seed);
        var random = new FuzzRandom(seed);
        await using var group = await TensorTestGroup.StartAsync(models, models.F32Path, 2);
        using var session = await TensorGroupSession.OpenAsync(group.Shards, group.Options(ReductionEncoding.F32), default);
        var shards = group.Workers[1].Runtime.Shards;
        int port = group.Shards[1].PeerPort;

        var byAnswer = new SortedDictionary<int, int>();
        for (int i = 0; i < caseCount; i++)
        {
            var (kind, bytes) = Case(random, session.Id);
            int answered = await ExchangeAsync(port, bytes);
            byAnswer[answered] = byAnswer.GetValueOrDefault(answered) + 1;
            Assert.True(answered is 0 or PeerWire.ChallengeBytes + PeerWire.ProofBytes,
                $"case {i} ({kind}, seed 0x{seed:X}) was answered with {answered} bytes");
        }
        output.WriteLine($"Peer port fuzz: {caseCount} cases, seed 0x{seed:X}: " +
            string.Join(", ", byAnswer.Select(pair => $"{pair.Value} answered with {pair.Key} bytes")));

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (shards.PendingPeerHandshakes > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        Assert.Equal(0, shards.PendingPeerHandshakes);
        Assert.True(shards.RefusedPeerLinks >= caseCount, $"{shards.RefusedPeerLinks} of {caseCount} connections were refused");
        // The hellos for the real session must have reached the proof, or the cases test nothing past the hello.
        Assert.InRange(byAnswer.GetValueOrDefault(PeerWire.ChallengeBytes + PeerWire.ProofBytes), 1, caseCount);

        int[] expected = models.LocalGreedy(models.F32Path, Prompt, 2);
        int first = session.EvaluateGreedy(Prompt).Token;
        int[] actual = [first, session.EvaluateGreedy([first]).Token];
        Assert.Equal(expected, actual);
    }

    /// <summary>One hostile opening, ending where the connector stops writing (the worker then sees the end of the stream).</summary>
    private static (string Kind, byte[] Bytes) Case(FuzzRandom random, string sessionId)
    {
        byte[] Hello(int from, int to, string id) => PeerWire.EncodeHello(new PeerWire.Hello(from, to, id, RandomNumberGenerator.GetBytes(32)));
        switch (random.Next(6))
        {
            case 0:
                return ("random bytes", random.Bytes(300));
            case 1:
            {
                var hello = Hello(0, 1, sessionId);
                for (int flips = 1 + random.Next(4); flips > 0; flips--)
                {
                    hello[random.Next(PeerWire.HelloHeaderBytes + sessionId.Length)] ^= (byte)(1 << random.Next(8));
                }
                return ("hello with flipped bits", hello);
            }
            case 2:
            {
                var hello = Hello(0, 1, sessionId);
                BinaryPrimitives.WriteUInt16LittleEndian(hello.AsSpan(5), (ushort)random.HostileUInt32());
                BinaryPrimitives.WriteUInt16LittleEndian(hello.AsSpan(7), (ushort)random.HostileUInt32());
                return ("hostile shard numbers", hello);
            }
            case 3:
            {
                var hello = Hello(0, 1, sessionId);
                hello[9] = (byte)random.Next(256);   // the id length, against the bytes that follow
                return ("hostile id length", hello);
            }
            case 4:
            {
                var hello = Hello(0, 1, sessionId);
                return ("truncated hello", hello[..random.Next(hello.Length)]);
            }
            default:
            {
                // The real session from shard 0: the worker answers its challenge and proof; the made-up proof
                // (random length) must not be accepted.
                return ("hello and a made-up proof", [.. Hello(0, 1, sessionId), .. random.Bytes(64)]);
            }
        }
    }

    /// <summary>Writes <paramref name="bytes"/>, ends the sending side, and counts what the worker answers until it closes.</summary>
    private static async Task<int> ExchangeAsync(int port, byte[] bytes)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
        var stream = client.GetStream();
        try
        {
            await stream.WriteAsync(bytes);
            client.Client.Shutdown(SocketShutdown.Send);
        }
        catch (IOException)
        {
            return 0;   // the worker closed first, having read enough to refuse
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var answer = new MemoryStream();
        try
        {
            await stream.CopyToAsync(answer, timeout.Token);
        }
        catch (IOException)
        {
            // Reset by the worker after it refused: what arrived before counts.
        }
        return (int)answer.Length;
    }
}
