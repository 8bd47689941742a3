namespace LlamaDist.Core.Tokenization;

/// <summary>
/// Which ids end generation, found the way llama.cpp's vocabulary loader finds them: EOS, the EOT/EOM ids from metadata,
/// and tokens recognised by their text (chat-turn ends and fill-in-the-middle padding/separators). llama.cpp also turns
/// every recognised token into a Control token, so it never renders as text and only parses as special; so do we.
/// </summary>
internal static class EndOfGenerationTokens
{
    // Texts that llama.cpp treats as an end of turn when tokenizer.ggml.eot_token_id is missing (the union of the lists
    // recent llama.cpp versions use; a vocabulary holds at most a few of them).
    private static readonly string[] EndOfTurnTexts =
    [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
        "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
    ];

    // Texts that end generation whatever the metadata says (llama.cpp's list as LLamaSharp 0.30 ships it; "</s>" is
    // on it, so in a byte-level vocabulary that holds "</s>" as an ordinary token it becomes a Control token too).
    private static readonly string[] AlwaysEndTexts =
    [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
        "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
        "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
        // fill-in-the-middle padding, repository and file separators (Qwen and CodeLlama style)
        "<|fim_pad|>", "<fim-pad>", "<PAD>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<|file_sep|>",
    ];

    /// <summary>Returns the end-of-generation ids and marks each text-recognised one as Control in <paramref name="vocabulary"/>.</summary>
    public static HashSet<int> Detect(TokenVocabulary vocabulary, int eosId, int endOfTurnId, int endOfMessageId)
    {
        var ids = new HashSet<int>();
        AddIfValid(ids, eosId);
        AddIfValid(ids, endOfTurnId);
        AddIfValid(ids, endOfMessageId);

        if (endOfTurnId < 0)
        {
            MarkByText(vocabulary, ids, EndOfTurnTexts);
        }

        if (endOfMessageId < 0)
        {
            MarkByText(vocabulary, ids, ["<|eom_id|>"]);
        }

        MarkByText(vocabulary, ids, AlwaysEndTexts);

        // Gemma 4 spells text "</s>" and ends turns with "<|tool_response>"; there "</s>" stays Control but does not
        // end generation (llama.cpp's exception for that vocabulary).
        if (vocabulary.TryGetId("<|tool_response>", out _) && vocabulary.TryGetId("</s>", out int closingTag)
            && closingTag != eosId && closingTag != endOfTurnId && closingTag != endOfMessageId)
        {
            ids.Remove(closingTag);
        }

        return ids;
    }

    private static void MarkByText(TokenVocabulary vocabulary, HashSet<int> ids, string[] texts)
    {
        foreach (string text in texts)
        {
            if (vocabulary.TryGetId(text, out int id))
            {
                ids.Add(id);
                vocabulary.SetType(id, TokenType.Control);
            }
        }
    }

    private static void AddIfValid(HashSet<int> ids, int id)
    {
        if (id >= 0)
        {
            ids.Add(id);
        }
    }
}
