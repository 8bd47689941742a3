namespace LlamaDist.Engine.Tokens;

/// <summary>One token of a tokenized text: its id and its text as llama-tokenize prints it (special tokens as written,
/// a byte that is only part of a character as U+FFFD).</summary>
public sealed record TokenPiece(int Id, string Piece);
