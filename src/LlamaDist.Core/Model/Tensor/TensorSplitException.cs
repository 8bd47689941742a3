namespace LlamaDist.Core.Model.Tensor;

/// <summary>
/// A model cannot be divided into the requested number of tensor-parallel shards: fewer KV heads (or feed-forward
/// blocks) than shards, a slice boundary that would cut a quantization block, or an architecture whose block
/// the shards cannot reproduce. The message says which and what would work instead.
/// </summary>
public sealed class TensorSplitException : Exception
{
    public TensorSplitException(string message)
        : base(message)
    {
    }

    public TensorSplitException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
