namespace LlamaDist.Core.Tokenization;

/// <summary>
/// The tokenizer.* GGUF metadata of a vocabulary, in the order it should be written, with the facts a model writer
/// needs from it (the vocabulary size decides the embedding and output rows).
/// </summary>
public sealed record TokenizerMetadata(
    IReadOnlyList<KeyValuePair<string, object>> Entries,
    int VocabularySize,
    string PreTokenizer);
