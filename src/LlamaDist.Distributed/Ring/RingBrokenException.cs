namespace LlamaDist.Distributed.Ring;

/// <summary>The ring's streams failed or returned something out of order; the session cannot continue.</summary>
public sealed class RingBrokenException : Exception
{
    public RingBrokenException(string message, Exception? innerException = null) : base(message, innerException)
    {
    }
}
