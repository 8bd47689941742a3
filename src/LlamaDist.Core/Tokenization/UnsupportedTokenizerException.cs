namespace LlamaDist.Core.Tokenization;

/// <summary>
/// The GGUF file names a tokenizer model (<c>tokenizer.ggml.model</c>) this engine does not implement,
/// for example "gpt2" (byte-level BPE) while only "llama" (SentencePiece) exists.
/// </summary>
public sealed class UnsupportedTokenizerException : NotSupportedException
{
    public UnsupportedTokenizerException(string modelName)
        : base($"Tokenizer model '{modelName}' (GGUF key tokenizer.ggml.model) is not supported; " +
               "supported models: 'llama' (SentencePiece).")
    {
        ModelName = modelName;
    }

    /// <summary>The value of <c>tokenizer.ggml.model</c>, e.g. "gpt2".</summary>
    public string ModelName { get; }
}
