namespace LlamaDist.PowerShell.Output;

/// <summary>One token of ConvertTo-LlamaToken -Detailed: its id and its text, as llama-tokenize lists them.</summary>
public sealed class LlamaToken
{
    public int Id { get; init; }

    /// <summary>The token's text (special tokens as written; a byte that is only part of a character as U+FFFD).</summary>
    public string Piece { get; init; } = "";

    public override string ToString() => $"{Id} -> '{Piece}'";
}
