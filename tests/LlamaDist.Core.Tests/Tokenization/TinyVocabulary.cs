using LlamaDist.Core.Tokenization;

namespace LlamaDist.Core.Tests.Tokenization;

/// <summary>
/// Builds small SentencePiece vocabularies laid out like llama's: 0 &lt;unk&gt;, 1 &lt;s&gt;, 2 &lt;/s&gt;, optionally the 256
/// byte tokens &lt;0x00&gt;..&lt;0xFF&gt; (ids 3..258), then the given pieces in order. Ids of pieces are found by text.
/// </summary>
internal sealed class TinyVocabulary
{
    private readonly List<string> tokens = ["<unk>", "<s>", "</s>"];
    private readonly List<float> scores = [0f, 0f, 0f];
    private readonly List<int> types = [(int)TokenType.Unknown, (int)TokenType.Control, (int)TokenType.Control];

    public TinyVocabulary(bool withByteTokens = true)
    {
        if (withByteTokens)
        {
            for (int value = 0; value < 256; value++)
            {
                Add($"<0x{value:X2}>", 0f, TokenType.Byte);
            }
        }
    }

    public TinyVocabulary Add(string text, float score, TokenType type = TokenType.Normal)
    {
        tokens.Add(text);
        scores.Add(score);
        types.Add((int)type);
        return this;
    }

    public SentencePieceTokenizer Build(SentencePieceOptions? options = null) =>
        new(tokens.ToArray(), scores.ToArray(), types.ToArray(), options);

    public int IdOf(string text) => tokens.LastIndexOf(text) is var id and >= 0
        ? id
        : throw new ArgumentException($"'{text}' is not in the test vocabulary.", nameof(text));

    public int[] IdsOf(params string[] texts) => texts.Select(IdOf).ToArray();

    public static int ByteId(byte value) => 3 + value;
}
