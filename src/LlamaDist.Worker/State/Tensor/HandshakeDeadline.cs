using System.Net.Sockets;

namespace LlamaDist.Worker.State.Tensor;

/// <summary>
/// Bounds a blocking peer handshake as a whole (see <see cref="PeerLink"/>): closes the socket when the timeout
/// runs out or the token is cancelled, which fails the blocked call under it. <see cref="Release"/> hands the
/// socket on to a session; after it the timer can no longer close it.
/// </summary>
internal sealed class HandshakeDeadline : IDisposable
{
    private readonly CancellationTokenSource deadline;
    private readonly CancellationTokenRegistration abort;

    public HandshakeDeadline(Socket socket, TimeSpan timeout, CancellationToken cancellationToken)
    {
        deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        abort = deadline.Token.Register(socket.Dispose);
        deadline.CancelAfter(timeout);
    }

    /// <summary>Cancelled when the handshake ran out of time or its caller gave up.</summary>
    public CancellationToken Token => deadline.Token;

    public bool Expired => deadline.IsCancellationRequested;

    /// <summary>Stops the timer from closing the socket; true when the handshake finished in time and the socket is open.</summary>
    public bool Release()
    {
        abort.Dispose();   // waits for a close under way, so after it the socket's state is settled
        return !deadline.IsCancellationRequested;
    }

    public void Dispose()
    {
        abort.Dispose();
        deadline.Dispose();
    }
}
