namespace LlamaDist.Worker.State.Tensor;

/// <summary>A peer link could not be made; the message says why.</summary>
internal sealed class PeerLinkException(string message, Exception? inner = null) : Exception(message, inner);
