using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace LlamaDist.Worker.State.Tensor;

/// <summary>
/// The worker's port for links between tensor-parallel shards (<see cref="PeerWire"/>). It accepts a connection
/// only for a session that is open here, from a lower shard of it, once the connector proved it holds that
/// session's secret; everything else is closed without an answer. At most <see cref="MaxPendingHandshakes"/>
/// handshakes run at once and each has <see cref="HandshakeTimeout"/>, so strangers can hold nothing for long.
/// With a certificate the port speaks TLS only.
/// </summary>
internal sealed class PeerListener : IDisposable
{
    public const int MaxPendingHandshakes = 16;

    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly TcpListener listener;
    private readonly X509Certificate2? certificate;
    private readonly Func<string, PeerReduction?> findSession;
    private readonly SemaphoreSlim pending = new(MaxPendingHandshakes);
    private readonly CancellationTokenSource closing = new();
    private long refused;

    private PeerListener(TcpListener listener, X509Certificate2? certificate, Func<string, PeerReduction?> findSession)
    {
        this.listener = listener;
        this.certificate = certificate;
        this.findSession = findSession;
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The bound port (the one asked for, or a free one for 0).</summary>
    public int Port { get; }

    /// <summary>Handshakes under way.</summary>
    public int PendingHandshakes => MaxPendingHandshakes - pending.CurrentCount;

    /// <summary>Connections closed unanswered: malformed, unauthenticated, or beyond the pending limit.</summary>
    public long Refused => Interlocked.Read(ref refused);

    /// <summary>Binds and starts accepting; a port in use is a <see cref="SocketException"/>.</summary>
    public static PeerListener Start(IPAddress address, int port, X509Certificate2? certificate, Func<string, PeerReduction?> findSession)
    {
        var listener = new TcpListener(address, port);
        if (address.Equals(IPAddress.IPv6Any))
        {
            listener.Server.DualMode = true;
        }
        listener.Start(backlog: MaxPendingHandshakes);
        var peerListener = new PeerListener(listener, certificate, findSession);
        _ = Task.Run(peerListener.AcceptLoopAsync);
        return peerListener;
    }

    private async Task AcceptLoopAsync()
    {
        while (!closing.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(closing.Token).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                continue;   // the connection went away before it was accepted
            }
            if (!pending.Wait(0))
            {
                Interlocked.Increment(ref refused);
                socket.Dispose();
                continue;
            }
            // A thread of its own, since the handshake blocks in the socket (see PeerLink: a socket that ran an
            // asynchronous operation never blocks in its reads again); the semaphore bounds them.
            var thread = new Thread(() =>
            {
                try
                {
                    Accept(socket);
                }
                finally
                {
                    pending.Release();
                }
            })
            { IsBackground = true, Name = "LlamaDist peer handshake" };
            try
            {
                thread.Start();
            }
            catch (OutOfMemoryException)
            {
                // No thread to be had: refuse this one, as beyond the limit, and keep accepting.
                pending.Release();
                Interlocked.Increment(ref refused);
                socket.Dispose();
            }
        }
    }

    /// <summary>
    /// The accepting side of the handshake, in blocking calls: each read and write bounded by the socket's
    /// timeouts, the whole by <see cref="HandshakeTimeout"/> (a timer closes the socket under a connector that
    /// trickles bytes) and by the listener's closing.
    /// </summary>
    private void Accept(Socket socket)
    {
        socket.NoDelay = true;
        PeerLink.SetTimeouts(socket, HandshakeTimeout);
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        bool attached = false;
        using var deadline = new HandshakeDeadline(socket, HandshakeTimeout, closing.Token);
        try
        {
            if (certificate is not null)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                ssl.AuthenticateAsServer(new SslServerAuthenticationOptions { ServerCertificate = certificate });
            }
            var header = new byte[PeerWire.HelloHeaderBytes];
            stream.ReadExactly(header);
            var (from, to, idBytes) = PeerWire.ParseHelloHeader(header);
            var rest = new byte[idBytes + PeerWire.ChallengeBytes];
            stream.ReadExactly(rest);
            string sessionId = StrictUtf8.GetString(rest, 0, idBytes);
            var reduction = findSession(sessionId);
            // Links run from the lower shard to the higher, one per pair.
            if (reduction is null || to != reduction.Self || from >= to)
            {
                return;
            }
            byte[] challenge = RandomNumberGenerator.GetBytes(PeerWire.ChallengeBytes);
            var reply = new byte[PeerWire.ChallengeBytes + PeerWire.ProofBytes];
            challenge.CopyTo(reply, 0);
            PeerWire.Prove(reduction.Secret, PeerWire.Role.Acceptor, rest.AsSpan(idBytes), from, to, sessionId).CopyTo(reply, PeerWire.ChallengeBytes);
            stream.Write(reply);
            var proof = new byte[PeerWire.ProofBytes];
            stream.ReadExactly(proof);
            if (!PeerWire.Verify(reduction.Secret, PeerWire.Role.Connector, challenge, from, to, sessionId, proof))
            {
                return;
            }
            // Answer before the session may use the link: its compute thread then owns every later write.
            stream.Write([PeerWire.Accepted]);
            // From here the timer must not close the socket under the session.
            if (deadline.Release())
            {
                attached = reduction.TryAttach(from, new PeerLink(socket, stream));
            }
        }
        catch (Exception exception) when (exception is IOException or SocketException or OperationCanceledException or InvalidDataException
            or DecoderFallbackException or System.Security.Authentication.AuthenticationException or ObjectDisposedException)
        {
            // Malformed, slow or gone: closed below without an answer.
        }
        finally
        {
            deadline.Release();
            if (!attached)
            {
                Interlocked.Increment(ref refused);
                stream.Dispose();
            }
        }
    }

    public void Dispose()
    {
        closing.Cancel();
        listener.Stop();
    }
}
