namespace LlamaDist.Core.Tokenization;

/// <summary>
/// The vocabulary handed to a tokenizer is inconsistent: array lengths disagree, a required special id is outside
/// the vocabulary, or a byte needed for byte fallback has neither a byte token nor an unknown token to fall back to.
/// </summary>
public sealed class InvalidVocabularyException : Exception
{
    public InvalidVocabularyException(string message) : base(message)
    {
    }
}
