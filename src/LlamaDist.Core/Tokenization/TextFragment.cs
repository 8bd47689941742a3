namespace LlamaDist.Core.Tokenization;

/// <summary>
/// A piece of the input after special-token splitting: either a run of raw text (Offset, Length into the input) that the
/// model's tokenizer still has to encode, or one special token that was written out in the text (TokenId &gt;= 0).
/// </summary>
internal readonly record struct TextFragment(int TokenId, int Offset, int Length)
{
    public bool IsToken => TokenId >= 0;

    public static TextFragment RawText(int offset, int length) => new(-1, offset, length);

    public static TextFragment Token(int id) => new(id, 0, 0);
}
