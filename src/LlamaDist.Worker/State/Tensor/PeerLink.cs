using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using LlamaDist.Distributed.Security;

namespace LlamaDist.Worker.State.Tensor;

/// <summary>
/// One authenticated connection between two shards of a session (see <see cref="PeerWire"/>), used in both
/// directions. The compute thread writes and reads it directly, blocking in the socket: a partial sum goes from
/// one shard's compute thread to the other's with no thread hand-off in between, which is what a reduction per
/// layer and direction needs (a round over gRPC streams cost about 0.4 ms on loopback; swapping 4 KB each way over
/// two such sockets takes about 15 us).
/// <para>The socket never runs an asynchronous operation, handshake included (<see cref="Connect"/>,
/// <see cref="PeerListener"/>): on Unix .NET switches a socket that ran one to non-blocking for good, and its
/// synchronous reads then wait for the runtime's event thread to hand the data to a pool thread that wakes the
/// reader, three wake-ups per partial sum instead of one, on the same core where a worker is pinned to one.</para>
/// </summary>
internal sealed class PeerLink : IDisposable
{
    private readonly Socket socket;
    private readonly Stream stream;

    public PeerLink(Socket socket, Stream stream)
    {
        this.socket = socket;
        this.stream = stream;
    }

    /// <summary>Bounds every blocking read and write: a peer that stops answering fails the step instead of hanging it.</summary>
    public TimeSpan Timeout
    {
        set => SetTimeouts(socket, value);
    }

    /// <summary>The socket's operating-system handle (a file descriptor on Unix), for tests of its mode.</summary>
    internal nint Handle => socket.Handle;

    public void Send(ReadOnlySpan<byte> bytes) => stream.Write(bytes);

    /// <summary>Fills <paramref name="bytes"/>; an ended stream is an <see cref="EndOfStreamException"/>.</summary>
    public void Receive(Span<byte> bytes) => stream.ReadExactly(bytes);

    internal static void SetTimeouts(Socket socket, TimeSpan timeout)
    {
        int milliseconds = (int)Math.Clamp(timeout.TotalMilliseconds, 1, int.MaxValue);
        socket.ReceiveTimeout = milliseconds;
        socket.SendTimeout = milliseconds;
    }

    /// <summary>
    /// The connecting side of the handshake: dials <paramref name="peer"/> (TLS checked against its pins where it
    /// speaks TLS), says which session and shards it is for, and returns the link once both ends proved they hold
    /// the session's secret. Blocking calls throughout (see the class); <paramref name="timeout"/> bounds the
    /// whole handshake by closing the socket under a call that overruns it (on macOS closing does not abort a
    /// connect under way, which then ends at the system's own connect timeout, about 75 s). Failures are
    /// <see cref="PeerLinkException"/>s that say what went wrong; <paramref name="cancellationToken"/> ends it with
    /// an <see cref="OperationCanceledException"/>.
    /// </summary>
    public static PeerLink Connect(PeerAddress peer, ReadOnlySpan<byte> secret, int from, int to, string sessionId,
        TimeSpan timeout, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream? stream = null;
        using var deadline = new HandshakeDeadline(socket, timeout, cancellationToken);
        try
        {
            SetTimeouts(socket, timeout);
            // Name lookup touches no socket, so it may wait asynchronously.
            var addresses = IPAddress.TryParse(peer.Host, out var literal) ? [literal]
                : Dns.GetHostAddressesAsync(peer.Host, deadline.Token).GetAwaiter().GetResult();
            socket.Connect(addresses, peer.Port);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (peer.Tls)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                ssl.AuthenticateAsClient(new SslClientAuthenticationOptions
                {
                    TargetHost = peer.Host,
                    RemoteCertificateValidationCallback = CertificatePins.Validator(peer.CertificateThumbprints),
                });
            }
            byte[] challenge = RandomNumberGenerator.GetBytes(PeerWire.ChallengeBytes);
            stream.Write(PeerWire.EncodeHello(new PeerWire.Hello(from, to, sessionId, challenge)));
            var reply = new byte[PeerWire.ChallengeBytes + PeerWire.ProofBytes];
            stream.ReadExactly(reply);
            if (!PeerWire.Verify(secret, PeerWire.Role.Acceptor, challenge, from, to, sessionId, reply.AsSpan(PeerWire.ChallengeBytes)))
            {
                throw new PeerLinkException($"{peer} did not prove it holds the session's secret.");
            }
            stream.Write(PeerWire.Prove(secret, PeerWire.Role.Connector, reply.AsSpan(0, PeerWire.ChallengeBytes), from, to, sessionId));
            var accepted = new byte[1];
            stream.ReadExactly(accepted);
            if (accepted[0] != PeerWire.Accepted)
            {
                throw new PeerLinkException($"{peer} refused the link.");
            }
            if (!deadline.Release())
            {
                throw new OperationCanceledException(deadline.Token);
            }
            return new PeerLink(socket, stream);
        }
        catch (Exception exception)
        {
            deadline.Release();
            stream?.Dispose();
            socket.Dispose();
            if (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
            if (exception is PeerLinkException)
            {
                throw;
            }
            throw new PeerLinkException(exception switch
            {
                _ when deadline.Expired || TimedOut(exception) => $"{peer} did not complete the link handshake within {timeout.TotalSeconds:0} s.",
                EndOfStreamException => $"{peer} closed the link during the handshake (it has no such session, or the secret differs).",
                AuthenticationException => $"TLS with {peer} failed: {exception.Message}",
                _ => $"Cannot link to {peer}: {exception.Message}",
            }, exception);
        }
    }

    /// <summary>Whether a blocking call failed because the socket's timeout ran out.</summary>
    internal static bool TimedOut(Exception exception)
    {
        for (Exception? inner = exception; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException { SocketErrorCode: SocketError.TimedOut or SocketError.WouldBlock })
            {
                return true;
            }
        }
        return false;
    }

    public void Dispose()
    {
        stream.Dispose();
        socket.Dispose();
    }
}
