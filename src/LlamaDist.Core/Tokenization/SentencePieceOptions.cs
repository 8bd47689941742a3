namespace LlamaDist.Core.Tokenization;

/// <summary>
/// The GGUF tokenizer settings a SentencePiece ("llama") vocabulary uses, with llama.cpp's defaults for SPM.
/// An id of -1 means "none" (LLAMA_TOKEN_NULL).
/// </summary>
public sealed class SentencePieceOptions
{
    /// <summary>tokenizer.ggml.bos_token_id (default 1).</summary>
    public int BosId { get; init; } = 1;

    /// <summary>tokenizer.ggml.eos_token_id (default 2).</summary>
    public int EosId { get; init; } = 2;

    /// <summary>tokenizer.ggml.unknown_token_id (default 0); also the byte-fallback id when a byte has no &lt;0xNN&gt; token.</summary>
    public int UnknownId { get; init; } = 0;

    /// <summary>tokenizer.ggml.eot_token_id; -1 lets the tokenizer find one by text ("&lt;|eot_id|&gt;", "&lt;end_of_turn&gt;" ...).</summary>
    public int EndOfTurnId { get; init; } = -1;

    /// <summary>tokenizer.ggml.eom_token_id; -1 lets the tokenizer find "&lt;|eom_id|&gt;" by text.</summary>
    public int EndOfMessageId { get; init; } = -1;

    /// <summary>tokenizer.ggml.add_bos_token (default true).</summary>
    public bool AddBos { get; init; } = true;

    /// <summary>tokenizer.ggml.add_eos_token (default false).</summary>
    public bool AddEos { get; init; }

    /// <summary>tokenizer.ggml.add_space_prefix (default true for SPM).</summary>
    public bool AddSpacePrefix { get; init; } = true;

    /// <summary>Special tokens swallow the whitespace after them, as llama.cpp does for Phi-3 vocabularies (chosen by
    /// general.name containing "phi-3" or "phi3").</summary>
    public bool RightStripSpecialTokens { get; init; }
}
