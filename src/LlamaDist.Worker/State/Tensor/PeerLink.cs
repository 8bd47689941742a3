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
        set
        {
            int milliseconds = (int)Math.Clamp(value.TotalMilliseconds, 1, int.MaxValue);
            socket.ReceiveTimeout = milliseconds;
            socket.SendTimeout = milliseconds;
        }
    }

    public void Send(ReadOnlySpan<byte> bytes) => stream.Write(bytes);

    /// <summary>Fills <paramref name="bytes"/>; an ended stream is an <see cref="EndOfStreamException"/>.</summary>
    public void Receive(Span<byte> bytes) => stream.ReadExactly(bytes);

    /// <summary>
    /// The connecting side of the handshake: dials <paramref name="host"/>:<paramref name="port"/> (TLS checked
    /// against <paramref name="pins"/> when <paramref name="tls"/>), says which session and shards it is for,
    /// and returns the link once both ends proved they hold the session's secret. Failures are
    /// <see cref="PeerLinkException"/>s that say what went wrong.
    /// </summary>
    public static async Task<PeerLink> ConnectAsync(PeerAddress peer, ReadOnlyMemory<byte> secret, int from, int to, string sessionId,
        TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var client = new TcpClient { NoDelay = true };
        Stream? stream = null;
        try
        {
            await client.ConnectAsync(peer.Host, peer.Port, deadline.Token).ConfigureAwait(false);
            stream = client.GetStream();
            if (peer.Tls)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = peer.Host,
                    RemoteCertificateValidationCallback = CertificatePins.Validator(peer.CertificateThumbprints),
                }, deadline.Token).ConfigureAwait(false);
            }
            byte[] challenge = RandomNumberGenerator.GetBytes(PeerWire.ChallengeBytes);
            await stream.WriteAsync(PeerWire.EncodeHello(new PeerWire.Hello(from, to, sessionId, challenge)), deadline.Token).ConfigureAwait(false);
            var reply = new byte[PeerWire.ChallengeBytes + PeerWire.ProofBytes];
            await stream.ReadExactlyAsync(reply, deadline.Token).ConfigureAwait(false);
            if (!PeerWire.Verify(secret.Span, PeerWire.Role.Acceptor, challenge, from, to, sessionId, reply.AsSpan(PeerWire.ChallengeBytes)))
            {
                throw new PeerLinkException($"{peer} did not prove it holds the session's secret.");
            }
            await stream.WriteAsync(PeerWire.Prove(secret.Span, PeerWire.Role.Connector, reply.AsSpan(0, PeerWire.ChallengeBytes), from, to, sessionId),
                deadline.Token).ConfigureAwait(false);
            var accepted = new byte[1];
            await stream.ReadExactlyAsync(accepted, deadline.Token).ConfigureAwait(false);
            if (accepted[0] != PeerWire.Accepted)
            {
                throw new PeerLinkException($"{peer} refused the link.");
            }
            return new PeerLink(client.Client, stream);
        }
        catch (Exception exception) when (exception is not PeerLinkException)
        {
            stream?.Dispose();
            client.Dispose();
            throw new PeerLinkException(exception switch
            {
                OperationCanceledException when !cancellationToken.IsCancellationRequested =>
                    $"{peer} did not complete the link handshake within {timeout.TotalSeconds:0} s.",
                EndOfStreamException => $"{peer} closed the link during the handshake (it has no such session, or the secret differs).",
                AuthenticationException => $"TLS with {peer} failed: {exception.Message}",
                _ => $"Cannot link to {peer}: {exception.Message}",
            }, exception);
        }
        catch
        {
            stream?.Dispose();
            client.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        stream.Dispose();
        socket.Dispose();
    }
}
