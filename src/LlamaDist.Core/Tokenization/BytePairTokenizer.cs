using System.Text;

namespace LlamaDist.Core.Tokenization;

/// <summary>
/// llama.cpp's byte-level BPE ("gpt2") tokenizer: special-token splitting, then per raw-text fragment the regular
/// expressions of the pre-tokenizer named by tokenizer.ggml.pre, each word spelled in GPT-2's byte alphabet and merged by
/// rank from tokenizer.ggml.merges. Decoding maps the byte alphabet back to bytes. Immutable after construction, so one
/// instance may encode and decode on many threads at once.
/// </summary>
public sealed class BytePairTokenizer : ITokenizer
{
    private readonly TokenVocabulary vocabulary;
    private readonly BytePairMerges merges;
    private readonly SpecialTokenSplitter splitter;
    private readonly HashSet<int> endOfGenerationIds;
    private readonly byte[][] pieces; // per id: the bytes llama_token_to_piece(special: true) gives

    /// <param name="tokens">tokenizer.ggml.tokens (normal tokens in GPT-2's byte alphabet).</param>
    /// <param name="scores">tokenizer.ggml.scores when the file has them (BPE does not use them; they are checked
    /// against the token count like every vocabulary array), or null.</param>
    /// <param name="tokenTypes">tokenizer.ggml.token_type (see <see cref="TokenType"/>), or null (all Normal).</param>
    /// <param name="merges">tokenizer.ggml.merges: "left right" per entry, highest priority first.</param>
    /// <param name="options">Pre-tokenizer, special ids and flags; null for llama.cpp's BPE defaults.</param>
    /// <exception cref="UnsupportedTokenizerException">The pre-tokenizer name is not one this engine knows.</exception>
    public BytePairTokenizer(IReadOnlyList<string> tokens, IReadOnlyList<float>? scores, IReadOnlyList<int>? tokenTypes,
        IReadOnlyList<string> merges, BytePairOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(merges);
        options ??= new BytePairOptions();
        PreTokenizer = BytePairPreTokenizer.FromName(options.PreTokenizer);
        vocabulary = new TokenVocabulary(tokens, scores, tokenTypes);

        BosId = CheckSpecialId(options.BosId, nameof(options.BosId));
        EosId = CheckSpecialId(options.EosId, nameof(options.EosId));
        UnknownId = CheckSpecialId(options.UnknownId, nameof(options.UnknownId));
        EndOfTurnId = CheckSpecialId(options.EndOfTurnId, nameof(options.EndOfTurnId));
        EndOfMessageId = CheckSpecialId(options.EndOfMessageId, nameof(options.EndOfMessageId));
        AddBos = options.AddBos ?? PreTokenizer.AddBos;
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

        this.merges = new BytePairMerges(vocabulary, merges);

        // Type overrides must happen before the splitter and the piece cache read the types.
        endOfGenerationIds = EndOfGenerationTokens.Detect(vocabulary, EosId, EndOfTurnId, EndOfMessageId);
        splitter = new SpecialTokenSplitter(vocabulary,
            options.RightStripSpecialTokens ? SpecialTokenSplitter.PhiThreeUnstrippedTexts : null);
        pieces = new byte[vocabulary.Count][];
        for (int id = 0; id < vocabulary.Count; id++)
        {
            pieces[id] = RenderPiece(id);
        }
    }

    public TokenVocabulary Vocabulary => vocabulary;

    /// <summary>The pre-tokenizer tokenizer.ggml.pre chose.</summary>
    public BytePairPreTokenizer PreTokenizer { get; }

    /// <summary>Number of distinct merge pairs.</summary>
    public int MergeCount => merges.Count;

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
            var words = new List<(int Start, int Length)>();
            char[] spelled = [];
            foreach (TextFragment fragment in splitter.Split(input, parseSpecial))
            {
                if (fragment.IsToken)
                {
                    output.Add(fragment.TokenId);
                    continue;
                }

                words.Clear();
                PreTokenizer.Split(input, fragment.Offset, fragment.Length, words);
                foreach ((int start, int length) in words)
                {
                    int spelledLength = SpellInByteAlphabet(input.AsSpan(start, length), ref spelled);
                    EncodeWord(spelled.AsSpan(0, spelledLength), output);
                }
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
    /// The bytes of llama_detokenize: optional removal of a leading BOS and trailing EOS, every piece, then (for the
    /// pre-tokenizers that ask for it) llama.cpp's clean-up of spaces before punctuation and contractions.
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

        var buffer = new List<byte>(ids.Length * 4);
        foreach (int id in ids)
        {
            ReadOnlySpan<byte> piece = PieceBytes(id, unparseSpecial);
            if (removeSpace && piece.Length > 0 && piece[0] == (byte)' ')
            {
                piece = piece[1..];
            }

            removeSpace = false;
            buffer.AddRange(piece);
        }

        return PreTokenizer.CleanSpaces ? DetokenizerSpaceCleanup.Apply(buffer) : buffer.ToArray();
    }

    public string TokenToPiece(int id) => Encoding.UTF8.GetString(PieceBytes(id, renderSpecial: false));

    public byte[] TokenToBytes(int id) => PieceBytes(id, renderSpecial: false).ToArray();

    /// <summary>Like llama_token_to_piece(special: renderSpecial): with renderSpecial, control and unknown tokens give their text.</summary>
    public byte[] TokenToBytes(int id, bool renderSpecial) => PieceBytes(id, renderSpecial).ToArray();

    public bool IsEndOfGeneration(int id) => endOfGenerationIds.Contains(id);

    public string GetTokenText(int id) => vocabulary.GetText(id);

    public TokenType GetTokenType(int id) => vocabulary.GetTokenType(id);

    private void EncodeWord(ReadOnlySpan<char> word, List<int> output)
    {
        if (word.IsEmpty)
        {
            return;
        }

        if (PreTokenizer.IgnoreMerges && vocabulary.TryGetId(word, out int wholeId))
        {
            output.Add(wholeId);
            return;
        }

        merges.Encode(word, output);
    }

    /// <summary>Writes the word's UTF-8 bytes as GPT-2 byte-alphabet characters into <paramref name="buffer"/>; returns the length.</summary>
    private static int SpellInByteAlphabet(ReadOnlySpan<char> word, ref char[] buffer)
    {
        int byteCount = Encoding.UTF8.GetByteCount(word);
        Span<byte> bytes = byteCount <= 1024 ? stackalloc byte[byteCount] : new byte[byteCount];
        Encoding.UTF8.GetBytes(word, bytes);
        if (buffer.Length < byteCount)
        {
            buffer = new char[Math.Max(byteCount, buffer.Length * 2)];
        }

        for (int index = 0; index < byteCount; index++)
        {
            buffer[index] = ByteUnicodeMap.ToChar(bytes[index]);
        }

        return byteCount;
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

    /// <summary>llama.cpp's token_to_piece for BPE with special: true (the form it caches): control, unknown and
    /// user-defined tokens render their text, normal tokens their bytes, every other type nothing.</summary>
    private byte[] RenderPiece(int id)
    {
        string text = vocabulary.GetText(id);
        return vocabulary.GetTokenType(id) switch
        {
            TokenType.Control or TokenType.Unknown or TokenType.UserDefined => Encoding.UTF8.GetBytes(text),
            TokenType.Normal => DecodeByteAlphabet(text),
            _ => [],
        };
    }

    /// <summary>Byte-alphabet text back to bytes; a character outside the alphabet becomes "[UNK_BYTE_0x..]" followed by
    /// the token text, as llama.cpp's llama_decode_text writes it.</summary>
    private static byte[] DecodeByteAlphabet(string text)
    {
        // Fast path: every character is one of the 256 (all normal tokens of a well-formed vocabulary).
        var direct = new byte[text.Length];
        for (int position = 0; position < text.Length; position++)
        {
            if (!ByteUnicodeMap.TryToByte(text[position], out direct[position]))
            {
                return DecodeByteAlphabetSlowly(text);
            }
        }

        return direct;
    }

    private static byte[] DecodeByteAlphabetSlowly(string text)
    {
        var bytes = new List<byte>(text.Length);
        Span<byte> utf8 = stackalloc byte[4];
        int index = 0;
        while (index < text.Length)
        {
            Rune.DecodeFromUtf16(text.AsSpan(index), out Rune rune, out int consumed);
            index += consumed;
            if (rune.IsBmp && ByteUnicodeMap.TryToByte((char)rune.Value, out byte value))
            {
                bytes.Add(value);
                continue;
            }

            int length = rune.EncodeToUtf8(utf8);
            var marker = new StringBuilder("[UNK_BYTE_0x");
            foreach (byte part in utf8[..length])
            {
                marker.Append(part.ToString("x2"));
            }

            marker.Append(text).Append(']');
            bytes.AddRange(Encoding.UTF8.GetBytes(marker.ToString()));
        }

        return bytes.ToArray();
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
