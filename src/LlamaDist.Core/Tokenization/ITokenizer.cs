namespace LlamaDist.Core.Tokenization;

/// <summary>
/// Text to token ids and back, reproducing llama.cpp's tokenizer for the same GGUF vocabulary id for id.
/// Ids that mean "no such token" are -1 (llama.cpp's LLAMA_TOKEN_NULL).
/// </summary>
public interface ITokenizer
{
    /// <summary>Number of tokens in the vocabulary; valid ids are 0 .. VocabularySize-1.</summary>
    int VocabularySize { get; }

    int BosId { get; }

    int EosId { get; }

    int UnknownId { get; }

    /// <summary>Whether <see cref="Encode(string, bool)"/> with addSpecial puts BOS first (tokenizer.ggml.add_bos_token).</summary>
    bool AddBos { get; }

    /// <summary>Whether <see cref="Encode(string, bool)"/> with addSpecial puts EOS last (tokenizer.ggml.add_eos_token).</summary>
    bool AddEos { get; }

    /// <summary>Whether a space is put before text that starts the input or follows a special token
    /// (tokenizer.ggml.add_space_prefix), and stripped again from the first decoded piece.</summary>
    bool AddSpacePrefix { get; }

    /// <summary>
    /// Plain-text encoding, like llama_tokenize(text, add_special, parse_special: false): control tokens written in
    /// the text ("&lt;s&gt;") are tokenized as ordinary text; user-defined tokens are still split out.
    /// </summary>
    int[] Encode(string text, bool addSpecial);

    /// <summary>Like llama_tokenize(text, add_special, parse_special): with parseSpecial, control-token texts become their ids.</summary>
    int[] Encode(string text, bool addSpecial, bool parseSpecial);

    /// <summary>Ids to text like llama_detokenize(remove_special: false, unparse_special: false): control tokens render as nothing.</summary>
    string Decode(ReadOnlySpan<int> ids);

    /// <summary>
    /// Ids to text like llama_detokenize: removeSpecial drops a leading BOS (when AddBos) and a trailing EOS (when AddEos);
    /// unparseSpecial renders control and unknown tokens as their text. Incomplete UTF-8 becomes U+FFFD.
    /// </summary>
    string Decode(ReadOnlySpan<int> ids, bool removeSpecial, bool unparseSpecial);

    /// <summary>One token's text as llama_token_to_piece(special: false) gives it, decoded as UTF-8; a lone byte token
    /// decodes to U+FFFD, so streaming callers should use <see cref="TokenToBytes"/> with a <see cref="Utf8StreamDecoder"/>.</summary>
    string TokenToPiece(int id);

    /// <summary>One token's raw UTF-8 bytes as llama_token_to_piece(special: false, lstrip: 0) gives them
    /// (control and unknown tokens: none; byte tokens: their one byte).</summary>
    byte[] TokenToBytes(int id);

    /// <summary>Whether generation stops at this token (EOS, EOT, EOM and the end-of-turn texts llama.cpp recognises).</summary>
    bool IsEndOfGeneration(int id);

    /// <summary>The token's vocabulary text as stored in GGUF (e.g. "▁Hello", "&lt;0x0A&gt;").</summary>
    string GetTokenText(int id);

    TokenType GetTokenType(int id);
}
