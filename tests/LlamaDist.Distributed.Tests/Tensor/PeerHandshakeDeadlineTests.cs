using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using LlamaDist.Worker.State.Tensor;

namespace LlamaDist.Distributed.Tests.Tensor;

/// <summary>
/// The peer handshake blocks in its sockets (so the links stay blocking), which makes its deadlines a matter of
/// socket timeouts and a timer that closes the socket: a peer that answers nothing, one that trickles its answer
/// a byte at a time, and a caller that gives up must each end the handshake in bounded time with a clear outcome.
/// </summary>
public sealed class PeerHandshakeDeadlineTests
{
    private static readonly byte[] Secret = RandomNumberGenerator.GetBytes(PeerWire.SecretBytes);

    [Fact]
    public void A_peer_that_accepts_but_never_answers_fails_the_link_within_the_timeout()
    {
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();   // the kernel completes the TCP handshake; nothing ever reads or writes
        var clock = Stopwatch.StartNew();
        var failure = Assert.Throws<PeerLinkException>(() => Connect(Port(silent), TimeSpan.FromSeconds(1), default));
        Assert.Contains("did not complete the link handshake within 1 s", failure.Message);
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.5, 10);
    }

    [Fact]
    public async Task A_peer_that_trickles_its_answer_is_cut_off_at_the_deadline_not_per_read()
    {
        using var trickler = new TcpListener(IPAddress.Loopback, 0);
        trickler.Start();
        using var stop = new CancellationTokenSource();
        var serving = Task.Run(async () =>
        {
            using var client = await trickler.AcceptTcpClientAsync(stop.Token);
            var stream = client.GetStream();
            // One byte every 300 ms: each read of the connector is answered well within its socket timeout.
            for (int i = 0; i < 100 && !stop.IsCancellationRequested; i++)
            {
                await stream.WriteAsync(new byte[] { 1 }, stop.Token);
                await Task.Delay(300, stop.Token);
            }
        });
        var clock = Stopwatch.StartNew();
        var failure = Assert.Throws<PeerLinkException>(() => Connect(Port(trickler), TimeSpan.FromSeconds(2), default));
        Assert.Contains("did not complete the link handshake within 2 s", failure.Message);
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.5, 10);
        stop.Cancel();
        await Assert.ThrowsAnyAsync<Exception>(() => serving);   // ends with the cancellation or the closed socket
    }

    [Fact]
    public void A_caller_that_gives_up_ends_the_handshake_at_once()
    {
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var clock = Stopwatch.StartNew();
        Assert.ThrowsAny<OperationCanceledException>(() => Connect(Port(silent), TimeSpan.FromSeconds(30), cancel.Token));
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.2, 10);
    }

    [Fact]
    public void The_listener_closes_a_connection_that_sends_nothing_after_its_handshake_timeout()
    {
        using var listener = PeerListener.Start(IPAddress.Loopback, 0, certificate: null, findSession: _ => null);
        using var idle = new TcpClient();
        idle.Connect(IPAddress.Loopback, listener.Port);
        var deadline = Stopwatch.StartNew();
        while (listener.PendingHandshakes == 0 && deadline.Elapsed < TimeSpan.FromSeconds(5))
        {
            Thread.Sleep(10);
        }
        Assert.Equal(1, listener.PendingHandshakes);
        // The stranger holds its place only until the handshake's timeout, then the worker closes the connection.
        idle.ReceiveTimeout = (int)(PeerListener.HandshakeTimeout + TimeSpan.FromSeconds(10)).TotalMilliseconds;
        var clock = Stopwatch.StartNew();
        Assert.Equal(0, ReadUntilClosed(idle.GetStream()));
        Assert.InRange(clock.Elapsed, PeerListener.HandshakeTimeout - TimeSpan.FromSeconds(1), PeerListener.HandshakeTimeout + TimeSpan.FromSeconds(5));
        while (listener.PendingHandshakes > 0 && deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            Thread.Sleep(10);
        }
        Assert.Equal(0, listener.PendingHandshakes);
        Assert.Equal(1, listener.Refused);
    }

    private static PeerLink Connect(int port, TimeSpan timeout, CancellationToken cancellationToken) =>
        PeerLink.Connect(new PeerAddress("127.0.0.1", port, Tls: false, []), Secret, 0, 1, "session", timeout, cancellationToken);

    /// <summary>Bytes read before the other end closed (with a FIN or, closing under a blocked read, a reset).</summary>
    private static int ReadUntilClosed(NetworkStream stream)
    {
        try
        {
            return stream.Read(new byte[1]);
        }
        catch (IOException exception) when (exception.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
        {
            return 0;
        }
    }

    private static int Port(TcpListener listener) => ((IPEndPoint)listener.LocalEndpoint).Port;
}
