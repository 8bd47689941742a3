namespace LlamaDist.Core.Tokenization;

/// <summary>
/// The GGUF file names a tokenizer this engine does not implement: a tokenizer model (<c>tokenizer.ggml.model</c>)
/// other than "llama" (SentencePiece) or "gpt2" (byte-level BPE), or a BPE pre-tokenizer (<c>tokenizer.ggml.pre</c>)
/// it does not know.
/// </summary>
public sealed class UnsupportedTokenizerException : NotSupportedException
{
    public UnsupportedTokenizerException(string modelName)
        : base($"Tokenizer model '{TextSanitizer.ForMessage(modelName)}' (GGUF key tokenizer.ggml.model) is not supported; " +
               "supported models: 'llama' (SentencePiece), 'gpt2' (byte-level BPE).")
    {
        ModelName = modelName;
    }

    private UnsupportedTokenizerException(string modelName, string preTokenizerName, string message)
        : base(message)
    {
        ModelName = modelName;
        PreTokenizerName = preTokenizerName;
    }

    /// <summary>The value of <c>tokenizer.ggml.model</c>, e.g. "gpt2".</summary>
    public string ModelName { get; }

    /// <summary>The unknown <c>tokenizer.ggml.pre</c> value, when that is what is unsupported; otherwise null.</summary>
    public string? PreTokenizerName { get; }

    internal static UnsupportedTokenizerException ForUnrecognisedPreTokenizer(string description) =>
        new("gpt2", description,
            $"The tokenizer.json pre-tokenizer '{description}' has no llama.cpp pre-tokenizer name this engine " +
            "recognises (known: the Llama 3 and Qwen 2 Split expressions, plain GPT-2 ByteLevel).");

    internal static UnsupportedTokenizerException ForPreTokenizer(string preTokenizerName, IEnumerable<string> knownNames) =>
        new("gpt2", preTokenizerName,
            $"Pre-tokenizer '{TextSanitizer.ForMessage(preTokenizerName)}' (GGUF key tokenizer.ggml.pre) is not supported; supported: " +
            string.Join(", ", knownNames.Order(StringComparer.Ordinal).Select(name => $"'{name}'")) + ".");
}
