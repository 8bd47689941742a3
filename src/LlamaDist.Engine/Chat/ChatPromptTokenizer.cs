using LlamaDist.Core.Chat;
using LlamaDist.Core.Tokenization;
using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Chat;

/// <summary>
/// Token ids of a rendered conversation. The template's own text is tokenized with special-token parsing (its
/// "&lt;|im_start|&gt;" becomes that token's id), message contents without it (a user typing "&lt;|im_end|&gt;" gets text
/// tokens, never an end of turn). Template text and contents between two special tokens are tokenized as one piece, so a
/// conversation free of special-looking text gives exactly llama_tokenize(prompt, add_special, parse_special: true).
/// BOS is added as the model asks (add_bos_token) unless the template already starts with it, as llama.cpp does not
/// double it.
/// </summary>
internal static class ChatPromptTokenizer
{
    // A piece of the prompt: raw text [Start, End) or one token.
    private readonly record struct Fragment(int Start, int End, int TokenId, bool IsContent)
    {
        public bool IsToken => TokenId >= 0;
    }

    public static int[] Tokenize(ITokenizer tokenizer, RenderedChatPrompt prompt)
    {
        string text = prompt.Text;
        var fragments = InitialFragments(text, prompt.ContentRanges);
        foreach (int id in SpecialIdsLongestFirst(tokenizer))
        {
            fragments = SplitTemplateText(fragments, text, tokenizer.GetTokenText(id), id);
        }

        var ids = new List<int>();
        int rawStart = -1, rawEnd = -1;
        foreach (var fragment in fragments)
        {
            if (fragment.IsToken)
            {
                FlushRaw(tokenizer, text, ref rawStart, rawEnd, ids);
                ids.Add(fragment.TokenId);
            }
            else
            {
                if (rawStart < 0) rawStart = fragment.Start;
                rawEnd = fragment.End;
            }
        }
        FlushRaw(tokenizer, text, ref rawStart, rawEnd, ids);

        if (tokenizer.AddBos && tokenizer.BosId >= 0 && (ids.Count == 0 || ids[0] != tokenizer.BosId))
        {
            ids.Insert(0, tokenizer.BosId);
        }
        if (tokenizer.AddEos && tokenizer.EosId >= 0)
        {
            ids.Add(tokenizer.EosId);
        }
        return ids.ToArray();
    }

    public static ChatMessage[] ToMessages(IReadOnlyList<ChatTurn> turns)
    {
        ArgumentNullException.ThrowIfNull(turns);
        if (turns.Count > ChatRequest.MaxMessages)
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"A conversation holds at most {ChatRequest.MaxMessages} messages, not {turns.Count}.", "Messages");
        long total = 0;
        var messages = new ChatMessage[turns.Count];
        for (int i = 0; i < turns.Count; i++)
        {
            var turn = turns[i] ?? throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Message {i} is null.", "Messages");
            if (string.IsNullOrEmpty(turn.Role) || turn.Content is null)
                throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Message {i} needs a role and a content.", "Messages");
            total += turn.Role.Length + turn.Content.Length;
            if (total > ChatRequest.MaxTotalCharacters)
                throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"The conversation exceeds {ChatRequest.MaxTotalCharacters} characters.", "Messages");
            messages[i] = new ChatMessage(turn.Role, turn.Content);
        }
        return messages;
    }

    private static void FlushRaw(ITokenizer tokenizer, string text, ref int rawStart, int rawEnd, List<int> ids)
    {
        if (rawStart >= 0)
        {
            ids.AddRange(tokenizer.Encode(text[rawStart..rawEnd], addSpecial: false, parseSpecial: false));
            rawStart = -1;
        }
    }

    private static List<Fragment> InitialFragments(string text, IReadOnlyList<Range> contentRanges)
    {
        var fragments = new List<Fragment>();
        int position = 0;
        foreach (var range in contentRanges)
        {
            var (start, length) = range.GetOffsetAndLength(text.Length);
            if (start > position) fragments.Add(new Fragment(position, start, -1, IsContent: false));
            fragments.Add(new Fragment(start, start + length, -1, IsContent: true));
            position = start + length;
        }
        if (position < text.Length) fragments.Add(new Fragment(position, text.Length, -1, IsContent: false));
        return fragments;
    }

    // llama.cpp's partition order: control, user-defined and unknown tokens, longest text first (ties by id).
    private static IEnumerable<int> SpecialIdsLongestFirst(ITokenizer tokenizer) =>
        Enumerable.Range(0, tokenizer.VocabularySize)
            .Where(id => tokenizer.GetTokenType(id) is TokenType.Control or TokenType.UserDefined or TokenType.Unknown
                && tokenizer.GetTokenText(id).Length > 0)
            .OrderByDescending(id => tokenizer.GetTokenText(id).Length)
            .ThenBy(id => id);

    // Cuts every occurrence of tokenText out of the template's raw text (leftmost first, not overlapping).
    private static List<Fragment> SplitTemplateText(List<Fragment> fragments, string text, string tokenText, int id)
    {
        List<Fragment>? result = null;
        for (int index = 0; index < fragments.Count; index++)
        {
            var fragment = fragments[index];
            int found = fragment.IsToken || fragment.IsContent ? -1 : IndexIn(text, tokenText, fragment.Start, fragment.End);
            if (found < 0)
            {
                result?.Add(fragment);
                continue;
            }

            result ??= fragments.GetRange(0, index);
            int position = fragment.Start;
            while (found >= 0)
            {
                if (found > position) result.Add(new Fragment(position, found, -1, IsContent: false));
                result.Add(new Fragment(found, found + tokenText.Length, id, IsContent: false));
                position = found + tokenText.Length;
                found = IndexIn(text, tokenText, position, fragment.End);
            }
            if (position < fragment.End) result.Add(new Fragment(position, fragment.End, -1, IsContent: false));
        }
        return result ?? fragments;
    }

    private static int IndexIn(string text, string value, int start, int end) =>
        end - start < value.Length ? -1 : text.IndexOf(value, start, end - start, StringComparison.Ordinal);
}
