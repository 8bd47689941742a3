namespace LlamaDist.Distributed.Activations;

/// <summary>
/// A hidden-state payload that does not match its declared shape or encoding (wrong byte count, unknown
/// encoding). Thrown instead of reading past a buffer, so a malformed message cannot crash a worker.
/// </summary>
public sealed class ActivationPayloadException : FormatException
{
    public ActivationPayloadException(string message) : base(message)
    {
    }
}
