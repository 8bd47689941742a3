namespace LlamaDist.Core.Tokenization;

/// <summary>
/// Token kinds as GGUF stores them in <c>tokenizer.ggml.token_type</c> (llama.cpp's <c>llama_token_type</c>).
/// The kind decides how a token renders when decoded and whether it takes part in special-token splitting.
/// </summary>
public enum TokenType
{
    /// <summary>Any value GGUF did not define; renders as nothing, like llama.cpp's LLAMA_TOKEN_ATTR_UNDEFINED.</summary>
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    /// <summary>A raw-byte token whose text is <c>&lt;0xNN&gt;</c>.</summary>
    Byte = 6,
}
