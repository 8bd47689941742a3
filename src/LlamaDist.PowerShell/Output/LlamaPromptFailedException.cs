namespace LlamaDist.PowerShell.Output;

/// <summary>
/// The exception of the ErrorRecord of a prompt that failed part-way (a cluster lost a node and could not go on):
/// <see cref="PartialResult"/> holds the text and token ids generated before. The record's target is the node.
/// </summary>
public sealed class LlamaPromptFailedException : Exception
{
    public LlamaPromptFailedException(string message, LlamaPromptResult partialResult, Exception innerException)
        : base(message, innerException) => PartialResult = partialResult;

    public LlamaPromptResult PartialResult { get; }
}
