namespace LlamaDist.Core.Gguf;

/// <summary>
/// A GGUF file is malformed or unsupported, or a metadata lookup failed. The message names the file and the
/// byte offset where the problem was found (-1 when no offset applies, e.g. a missing key).
/// </summary>
public class GgufFormatException : IOException
{
    public GgufFormatException(string filePath, long offset, string problem, Exception? innerException = null)
        : base(Compose(filePath, offset, problem), innerException)
    {
        FilePath = filePath;
        Offset = offset;
        Problem = problem;
    }

    public string FilePath { get; }

    /// <summary>Byte offset in the file where the problem was found, or -1.</summary>
    public long Offset { get; }

    /// <summary>The problem alone, without file and offset.</summary>
    public string Problem { get; }

    private static string Compose(string filePath, long offset, string problem) =>
        offset >= 0
            ? $"Invalid GGUF file '{filePath}' at byte offset {offset}: {problem}"
            : $"GGUF file '{filePath}': {problem}";
}
