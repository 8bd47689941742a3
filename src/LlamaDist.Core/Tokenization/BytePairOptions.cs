namespace LlamaDist.Core.Tokenization;

/// <summary>
/// The GGUF tokenizer settings a byte-level BPE ("gpt2") vocabulary uses, with llama.cpp's defaults for BPE.
/// An id of -1 means "none" (LLAMA_TOKEN_NULL).
/// </summary>
public sealed class BytePairOptions
{
    /// <summary>tokenizer.ggml.pre, e.g. "llama-bpe", "qwen2"; null or empty for "default".</summary>
    public string? PreTokenizer { get; init; }

    /// <summary>tokenizer.ggml.bos_token_id (llama.cpp's BPE default is 11).</summary>
    public int BosId { get; init; } = 11;

    /// <summary>tokenizer.ggml.eos_token_id (default 11).</summary>
    public int EosId { get; init; } = 11;

    /// <summary>tokenizer.ggml.unknown_token_id (default none).</summary>
    public int UnknownId { get; init; } = -1;

    /// <summary>tokenizer.ggml.eot_token_id; -1 lets the tokenizer find one by text ("&lt;|eot_id|&gt;", "&lt;|im_end|&gt;" ...).</summary>
    public int EndOfTurnId { get; init; } = -1;

    /// <summary>tokenizer.ggml.eom_token_id; -1 lets the tokenizer find "&lt;|eom_id|&gt;" by text.</summary>
    public int EndOfMessageId { get; init; } = -1;

    /// <summary>tokenizer.ggml.add_bos_token; null takes the pre-tokenizer's default (true for Llama 3 and Tekken).</summary>
    public bool? AddBos { get; init; }

    /// <summary>tokenizer.ggml.add_eos_token (default false).</summary>
    public bool AddEos { get; init; }

    /// <summary>tokenizer.ggml.add_space_prefix (default false for BPE; only decoding reads it).</summary>
    public bool AddSpacePrefix { get; init; }

    /// <summary>Special tokens swallow the whitespace after them, as llama.cpp does for Phi-3 vocabularies (chosen by
    /// general.name containing "phi-3" or "phi3").</summary>
    public bool RightStripSpecialTokens { get; init; }
}
