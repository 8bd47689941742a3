namespace LlamaDist.Core.Tokenization;

/// <summary>
/// llama.cpp's tokenizer_st_partition: before the model tokenizer runs, occurrences of special-token texts in the input
/// are cut out as whole tokens. Tokens are tried longest text first; each one splits every remaining raw-text fragment
/// at its leftmost non-overlapping occurrences. User-defined tokens are always split out; control and unknown tokens
/// only when special parsing is asked for (so plain text "&lt;s&gt;" stays text by default). Tokens marked
/// right-strip (llama.cpp's LLAMA_TOKEN_ATTR_RSTRIP, which it sets on Phi-3's special tokens) also swallow the ASCII
/// whitespace that follows them.
/// </summary>
internal sealed class SpecialTokenSplitter
{
    private readonly TokenVocabulary vocabulary;

    // Control, user-defined and unknown ids, longest text first (ties by id, so the order is deterministic).
    private readonly int[] specialIds;
    private readonly bool hasUserDefined;
    private readonly HashSet<int> rightStripIds;

    /// <param name="rightStripTexts">When not null, every special token except these texts is right-strip
    /// (Phi-3: all but "&lt;unk&gt;", "&lt;s&gt;" and "&lt;|endoftext|&gt;"); null for none.</param>
    public SpecialTokenSplitter(TokenVocabulary vocabulary, IReadOnlyCollection<string>? rightStripTexts = null)
    {
        this.vocabulary = vocabulary;
        var ids = new List<int>();
        for (int id = 0; id < vocabulary.Count; id++)
        {
            TokenType type = vocabulary.GetTokenType(id);
            if (type is TokenType.Control or TokenType.UserDefined or TokenType.Unknown)
            {
                ids.Add(id);
                hasUserDefined |= type == TokenType.UserDefined;
            }
        }

        specialIds = ids
            .OrderByDescending(id => vocabulary.GetText(id).Length)
            .ThenBy(id => id)
            .ToArray();
        rightStripIds = rightStripTexts is null
            ? []
            : ids.Where(id => !rightStripTexts.Contains(vocabulary.GetText(id))).ToHashSet();
    }

    /// <summary>The texts llama.cpp leaves without right-strip in a Phi-3 vocabulary.</summary>
    public static IReadOnlyCollection<string> PhiThreeUnstrippedTexts { get; } = ["<unk>", "<s>", "<|endoftext|>"];

    /// <summary>Splits <paramref name="text"/> (non-empty) into raw-text and token fragments, in text order.</summary>
    public List<TextFragment> Split(string text, bool parseSpecial)
    {
        var fragments = new List<TextFragment> { TextFragment.RawText(0, text.Length) };
        if (!parseSpecial && !hasUserDefined)
        {
            return fragments;
        }

        foreach (int id in specialIds)
        {
            if (!parseSpecial && vocabulary.GetTokenType(id) != TokenType.UserDefined)
            {
                continue;
            }

            string tokenText = vocabulary.GetText(id);
            if (text.IndexOf(tokenText, StringComparison.Ordinal) < 0)
            {
                continue;
            }

            fragments = SplitAll(fragments, text, tokenText, id, rightStripIds.Contains(id));
        }

        return fragments;
    }

    private static List<TextFragment> SplitAll(List<TextFragment> fragments, string text, string tokenText, int id,
        bool rightStrip)
    {
        var result = new List<TextFragment>(fragments.Count + 2);
        foreach (TextFragment fragment in fragments)
        {
            if (fragment.IsToken)
            {
                result.Add(fragment);
                continue;
            }

            int position = fragment.Offset;
            int end = fragment.Offset + fragment.Length;
            while (position < end)
            {
                int match = text.IndexOf(tokenText, position, end - position, StringComparison.Ordinal);
                if (match < 0)
                {
                    break;
                }

                if (match > position)
                {
                    result.Add(TextFragment.RawText(position, match - position));
                }

                result.Add(TextFragment.Token(id));
                position = match + tokenText.Length;
                while (rightStrip && position < end && text[position] is ' ' or '\t' or '\n' or '\v' or '\f' or '\r')
                {
                    position++;
                }
            }

            if (position < end)
            {
                result.Add(TextFragment.RawText(position, end - position));
            }
        }

        return result;
    }
}
