namespace LlamaDist.Core.Tokenization;

/// <summary>
/// The token table of a GGUF vocabulary: text, score and type per id, plus a text-to-id map that can be probed with a
/// span of characters, so the merge loop looks up candidate pieces without allocating strings.
/// </summary>
public sealed class TokenVocabulary
{
    private readonly string[] texts;
    private readonly float[] scores;
    private readonly TokenType[] types;
    private readonly Dictionary<string, int> idsByText;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> idsBySpan;

    /// <param name="tokens">tokenizer.ggml.tokens; an empty entry is renamed "[EMPTY_id]" as llama.cpp does.</param>
    /// <param name="scores">tokenizer.ggml.scores, or null for all zero.</param>
    /// <param name="tokenTypes">tokenizer.ggml.token_type (values of <see cref="TokenType"/>), or null for all Normal.
    /// Values outside 0..6 become <see cref="TokenType.Undefined"/>.</param>
    public TokenVocabulary(IReadOnlyList<string> tokens, IReadOnlyList<float>? scores, IReadOnlyList<int>? tokenTypes)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Count == 0)
        {
            throw new InvalidVocabularyException("The vocabulary has no tokens.");
        }

        if (scores is not null && scores.Count != tokens.Count)
        {
            throw new InvalidVocabularyException(
                $"The vocabulary has {tokens.Count} tokens but {scores.Count} scores (tokenizer.ggml.scores).");
        }

        if (tokenTypes is not null && tokenTypes.Count != tokens.Count)
        {
            throw new InvalidVocabularyException(
                $"The vocabulary has {tokens.Count} tokens but {tokenTypes.Count} token types (tokenizer.ggml.token_type).");
        }

        int count = tokens.Count;
        texts = new string[count];
        this.scores = new float[count];
        types = new TokenType[count];
        idsByText = new Dictionary<string, int>(count, StringComparer.Ordinal);
        for (int id = 0; id < count; id++)
        {
            string text = tokens[id];
            if (string.IsNullOrEmpty(text))
            {
                text = $"[EMPTY_{id}]";
            }

            texts[id] = text;
            this.scores[id] = scores?[id] ?? 0f;
            int type = tokenTypes?[id] ?? (int)TokenType.Normal;
            types[id] = type is >= 0 and <= (int)TokenType.Byte ? (TokenType)type : TokenType.Undefined;

            // llama.cpp fills token_to_id in id order, so a repeated text maps to its last id.
            idsByText[text] = id;
        }

        idsBySpan = idsByText.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Count => texts.Length;

    public string GetText(int id) => texts[CheckId(id)];

    public float GetScore(int id) => scores[CheckId(id)];

    public TokenType GetTokenType(int id) => types[CheckId(id)];

    public bool Contains(int id) => (uint)id < (uint)texts.Length;

    public bool TryGetId(string text, out int id) => idsByText.TryGetValue(text, out id);

    public bool TryGetId(ReadOnlySpan<char> text, out int id) => idsBySpan.TryGetValue(text, out id);

    /// <summary>Overrides a token's type, as llama.cpp does for end-of-turn tokens that were not marked Control.</summary>
    internal void SetType(int id, TokenType type) => types[CheckId(id)] = type;

    private int CheckId(int id)
    {
        if ((uint)id >= (uint)texts.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id must be in 0..{texts.Length - 1}.");
        }

        return id;
    }
}
