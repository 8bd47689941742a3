namespace LlamaDist.Engine.Errors;

/// <summary>
/// The one exception type the engine's public surface throws for bad input. Core exceptions are translated into
/// it so callers in another load context never need the core assembly's types.
/// </summary>
public sealed class LlamaDistException : Exception
{
    public LlamaDistException(LlamaErrorKind kind, string message, string? target = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
        Target = target;
    }

    public LlamaErrorKind Kind { get; }

    /// <summary>The file, tensor or setting the error is about.</summary>
    public string? Target { get; }

    /// <summary>What a generation produced before it failed (text and token ids so far), when it failed part-way.</summary>
    public Generation.GenerationResult? PartialResult { get; init; }
}
