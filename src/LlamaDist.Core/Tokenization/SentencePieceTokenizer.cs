using System.Text;

namespace LlamaDist.Core.Tokenization;

/// <summary>
/// llama.cpp's "llama" (SPM) tokenizer: special-token splitting, then per raw-text fragment a "▁" space prefix (at the
/// start of the input or after a special token), spaces escaped to "▁", and the score-driven pair merge of
/// <see cref="SentencePieceMerger"/>, with byte tokens &lt;0xNN&gt; for code points outside the vocabulary.
/// Immutable after construction, so one instance may encode and decode on many threads at once.
/// </summary>
public sealed class SentencePieceTokenizer : ITokenizer
{
    private const char SpaceMarker = '\u2581'; // "▁", SentencePiece's visible space

    private readonly TokenVocabulary vocabulary;
    private readonly SpecialTokenSplitter splitter;
    private readonly HashSet<int> endOfGenerationIds;
    private readonly int[] byteTokenIds;           // [256]: id per byte value, -1 where the vocabulary has no token
    private readonly Func<byte, int> byteToToken;
    private readonly byte[][] pieces;               // per id: the bytes llama_token_to_piece(special: true) gives

    /// <param name="tokens">tokenizer.ggml.tokens.</param>
    /// <param name="scores">tokenizer.ggml.scores, or null (all 0).</param>
    /// <param name="tokenTypes">tokenizer.ggml.token_type (see <see cref="TokenType"/>), or null (all Normal).</param>
    /// <param name="options">Special ids and flags; null for llama.cpp's SPM defaults.</param>
    public SentencePieceTokenizer(IReadOnlyList<string> tokens, IReadOnlyList<float>? scores, IReadOnlyList<int>? tokenTypes,
        SentencePieceOptions? options = null)
    {
        options ??= new SentencePieceOptions();
        vocabulary = new TokenVocabulary(tokens, scores, tokenTypes);

        BosId = CheckSpecialId(options.BosId, nameof(options.BosId));
        EosId = CheckSpecialId(options.EosId, nameof(options.EosId));
        UnknownId = CheckSpecialId(options.UnknownId, nameof(options.UnknownId));
        EndOfTurnId = CheckSpecialId(options.EndOfTurnId, nameof(options.EndOfTurnId));
        EndOfMessageId = CheckSpecialId(options.EndOfMessageId, nameof(options.EndOfMessageId));
        AddBos = options.AddBos;
        AddEos = options.AddEos;
        AddSpacePrefix = options.AddSpacePrefix;
        if (AddBos && BosId < 0)
        {
            throw new InvalidVocabularyException("AddBos is set but the vocabulary has no BOS token (BosId is -1).");
        }

        if (AddEos && EosId < 0)
        {
            throw new InvalidVocabularyException("AddEos is set but the vocabulary has no EOS token (EosId is -1).");
        }

        // Type overrides must happen before the splitter and the piece cache read the types.
        endOfGenerationIds = EndOfGenerationTokens.Detect(vocabulary, EosId, EndOfTurnId, EndOfMessageId);
        splitter = new SpecialTokenSplitter(vocabulary,
            options.RightStripSpecialTokens ? SpecialTokenSplitter.PhiThreeUnstrippedTexts : null);
        byteTokenIds = FindByteTokens(vocabulary);
        byteToToken = ByteToToken;
        pieces = new byte[vocabulary.Count][];
        for (int id = 0; id < vocabulary.Count; id++)
        {
            pieces[id] = RenderPiece(id);
        }
    }

    public TokenVocabulary Vocabulary => vocabulary;

    public int VocabularySize => vocabulary.Count;

    public int BosId { get; }

    public int EosId { get; }

    public int UnknownId { get; }

    /// <summary>tokenizer.ggml.eot_token_id, or -1.</summary>
    public int EndOfTurnId { get; }

    /// <summary>tokenizer.ggml.eom_token_id, or -1.</summary>
    public int EndOfMessageId { get; }

    public bool AddBos { get; }

    public bool AddEos { get; }

    public bool AddSpacePrefix { get; }

    public int[] Encode(string text, bool addSpecial) => Encode(text, addSpecial, parseSpecial: false);

    public int[] Encode(string text, bool addSpecial, bool parseSpecial)
    {
        ArgumentNullException.ThrowIfNull(text);
        var output = new List<int>(text.Length / 3 + 4);
        if (addSpecial && AddBos)
        {
            output.Add(BosId);
        }

        if (text.Length > 0)
        {
            string input = TextSanitizer.ReplaceLoneSurrogates(text);

            // The space prefix goes before the first text fragment and before any text that follows a special token.
            bool previousWasSpecial = true;
            foreach (TextFragment fragment in splitter.Split(input, parseSpecial))
            {
                if (fragment.IsToken)
                {
                    output.Add(fragment.TokenId);
                    previousWasSpecial = true;
                    continue;
                }

                string escaped = Escape(input, fragment.Offset, fragment.Length, AddSpacePrefix && previousWasSpecial);
                SentencePieceMerger.Tokenize(vocabulary, byteToToken, escaped, output);
                previousWasSpecial = false;
            }
        }

        if (addSpecial && AddEos)
        {
            output.Add(EosId);
        }

        return output.ToArray();
    }

    public string Decode(ReadOnlySpan<int> ids) => Decode(ids, removeSpecial: false, unparseSpecial: false);

    public string Decode(ReadOnlySpan<int> ids, bool removeSpecial, bool unparseSpecial) =>
        Encoding.UTF8.GetString(DecodeToBytes(ids, removeSpecial, unparseSpecial));

    /// <summary>
    /// The bytes of llama_detokenize. The space prefix added at encoding is removed by stripping one leading space from
    /// the first token's piece, exactly as llama.cpp does: when the first id is BOS, BOS takes that turn (it renders as
    /// nothing, or as "&lt;s&gt;" with unparseSpecial, or is dropped by removeSpecial) and the next piece keeps its space.
    /// </summary>
    public byte[] DecodeToBytes(ReadOnlySpan<int> ids, bool removeSpecial, bool unparseSpecial)
    {
        bool removeSpace = AddSpacePrefix;
        if (removeSpecial && AddBos && ids.Length > 0 && ids[0] == BosId)
        {
            removeSpace = false;
            ids = ids[1..];
        }

        if (removeSpecial && AddEos && ids.Length > 0 && ids[^1] == EosId)
        {
            ids = ids[..^1];
        }

        using var buffer = new MemoryStream(ids.Length * 4);
        foreach (int id in ids)
        {
            ReadOnlySpan<byte> piece = PieceBytes(id, unparseSpecial);
            if (removeSpace && piece.Length > 0 && piece[0] == (byte)' ')
            {
                piece = piece[1..];
            }

            removeSpace = false;
            buffer.Write(piece);
        }

        return buffer.ToArray();
    }

    public string TokenToPiece(int id) => Encoding.UTF8.GetString(PieceBytes(id, renderSpecial: false));

    public byte[] TokenToBytes(int id) => PieceBytes(id, renderSpecial: false).ToArray();

    /// <summary>Like llama_token_to_piece(special: renderSpecial): with renderSpecial, control and unknown tokens give their text.</summary>
    public byte[] TokenToBytes(int id, bool renderSpecial) => PieceBytes(id, renderSpecial).ToArray();

    public bool IsEndOfGeneration(int id) => endOfGenerationIds.Contains(id);

    public string GetTokenText(int id) => vocabulary.GetText(id);

    public TokenType GetTokenType(int id) => vocabulary.GetTokenType(id);

    public float GetTokenScore(int id) => vocabulary.GetScore(id);

    /// <summary>The id for one raw byte: its &lt;0xNN&gt; token, else a one-character token for an ASCII byte, else the
    /// unknown token (llama.cpp's byte_to_token).</summary>
    public int ByteToToken(byte value)
    {
        int id = byteTokenIds[value];
        if (id >= 0)
        {
            return id;
        }

        if (UnknownId >= 0)
        {
            return UnknownId;
        }

        throw new InvalidVocabularyException(
            $"Byte 0x{value:X2} has no token <0x{value:X2}> and the vocabulary has no unknown token to fall back to.");
    }

    private ReadOnlySpan<byte> PieceBytes(int id, bool renderSpecial)
    {
        TokenType type = vocabulary.GetTokenType(id); // validates the id
        if (!renderSpecial && type is TokenType.Control or TokenType.Unknown)
        {
            return ReadOnlySpan<byte>.Empty;
        }

        return pieces[id];
    }

    /// <summary>llama.cpp's token_to_piece for SPM with special: true (the form it caches).</summary>
    private byte[] RenderPiece(int id)
    {
        string text = vocabulary.GetText(id);
        return vocabulary.GetTokenType(id) switch
        {
            TokenType.Control or TokenType.Unknown or TokenType.UserDefined => Encoding.UTF8.GetBytes(text),
            TokenType.Normal => Encoding.UTF8.GetBytes(text.Replace(SpaceMarker, ' ')),
            TokenType.Byte => [ParseByteToken(text)],
            _ => [], // Unused and Undefined render as nothing
        };
    }

    /// <summary>The byte of a "&lt;0xNN&gt;" token, read like llama.cpp's strtol(text.substr(3, 2), 16): leading hex
    /// digits of those two characters, 0 if there are none.</summary>
    private static byte ParseByteToken(string text)
    {
        int value = 0;
        for (int i = 3; i < Math.Min(5, text.Length); i++)
        {
            int digit = HexDigitValue(text[i]);
            if (digit < 0)
            {
                break;
            }

            value = value * 16 + digit;
        }

        return (byte)value;
    }

    private static int HexDigitValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    private static int[] FindByteTokens(TokenVocabulary vocabulary)
    {
        var ids = new int[256];
        for (int value = 0; value < 256; value++)
        {
            if (vocabulary.TryGetId($"<0x{value:X2}>", out int id))
            {
                ids[value] = id;
            }
            else if (value < 0x80 && vocabulary.TryGetId(((char)value).ToString(), out id))
            {
                ids[value] = id; // llama.cpp falls back to a token spelled as the byte itself
            }
            else
            {
                ids[value] = -1;
            }
        }

        return ids;
    }

    /// <summary>Optional space prefix, then every ' ' becomes "▁" (llama_escape_whitespace).</summary>
    private static string Escape(string input, int offset, int length, bool addPrefix)
    {
        return string.Create(length + (addPrefix ? 1 : 0), (input, offset, length, addPrefix), static (destination, state) =>
        {
            int start = 0;
            if (state.addPrefix)
            {
                destination[0] = SpaceMarker;
                start = 1;
            }

            state.input.AsSpan(state.offset, state.length).Replace(destination[start..], ' ', SpaceMarker);
        });
    }

    private int CheckSpecialId(int id, string name)
    {
        if (id < -1 || id >= vocabulary.Count)
        {
            throw new InvalidVocabularyException(
                $"{name} {id} is outside the vocabulary of {vocabulary.Count} tokens (use -1 for none).");
        }

        return id;
    }
}
