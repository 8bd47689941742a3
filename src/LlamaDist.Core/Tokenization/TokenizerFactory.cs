using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Tokenization;

/// <summary>
/// Builds the tokenizer a GGUF file describes (tokenizer.ggml.* metadata), reading keys the way llama.cpp's vocabulary
/// loader does: missing optional keys keep the model type's defaults, and a special id outside the vocabulary is ignored
/// (llama.cpp logs "bad special token" and keeps the default).
/// </summary>
public static class TokenizerFactory
{
    public const string ModelKey = "tokenizer.ggml.model";
    public const string TokensKey = "tokenizer.ggml.tokens";
    public const string ScoresKey = "tokenizer.ggml.scores";
    public const string TokenTypesKey = "tokenizer.ggml.token_type";
    public const string BosIdKey = "tokenizer.ggml.bos_token_id";
    public const string EosIdKey = "tokenizer.ggml.eos_token_id";
    public const string UnknownIdKey = "tokenizer.ggml.unknown_token_id";
    public const string EndOfTurnIdKey = "tokenizer.ggml.eot_token_id";
    public const string EndOfMessageIdKey = "tokenizer.ggml.eom_token_id";
    public const string AddBosKey = "tokenizer.ggml.add_bos_token";
    public const string AddEosKey = "tokenizer.ggml.add_eos_token";
    public const string AddSpacePrefixKey = "tokenizer.ggml.add_space_prefix";
    public const string PreTokenizerKey = "tokenizer.ggml.pre";
    public const string MergesKey = "tokenizer.ggml.merges";

    /// <summary>
    /// The tokenizer for <paramref name="file"/>. "llama" gives a <see cref="SentencePieceTokenizer"/>, "gpt2" a
    /// <see cref="BytePairTokenizer"/>; any other model, or a BPE pre-tokenizer (tokenizer.ggml.pre) this engine does
    /// not know, throws <see cref="UnsupportedTokenizerException"/>. A missing or malformed required key
    /// (model, tokens, merges) or vocabulary arrays of different lengths throw <see cref="GgufFormatException"/>
    /// naming the key; a vocabulary that cannot tokenize (e.g. no byte fallback) throws <see cref="InvalidVocabularyException"/>.
    /// </summary>
    public static ITokenizer FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        string model = file.GetValue<string>(ModelKey);
        return model switch
        {
            "llama" => CreateSentencePiece(file),
            "gpt2" => CreateBytePair(file),
            _ => throw new UnsupportedTokenizerException(model),
        };
    }

    /// <summary>A SentencePiece tokenizer from the file's vocabulary, whatever tokenizer.ggml.model says.</summary>
    public static SentencePieceTokenizer CreateSentencePiece(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        string[] tokens = file.GetArray<string>(TokensKey);
        float[]? scores = file.Metadata.ContainsKey(ScoresKey) ? file.GetArray<float>(ScoresKey) : null;
        int[]? types = file.Metadata.ContainsKey(TokenTypesKey) ? file.GetArray<int>(TokenTypesKey) : null;
        RequireConsistentArrays(file, tokens, scores, types);

        var defaults = new SentencePieceOptions();
        var options = new SentencePieceOptions
        {
            BosId = ReadSpecialId(file, BosIdKey, defaults.BosId, tokens.Length),
            EosId = ReadSpecialId(file, EosIdKey, defaults.EosId, tokens.Length),
            UnknownId = ReadSpecialId(file, UnknownIdKey, defaults.UnknownId, tokens.Length),
            EndOfTurnId = ReadSpecialId(file, EndOfTurnIdKey, defaults.EndOfTurnId, tokens.Length),
            EndOfMessageId = ReadSpecialId(file, EndOfMessageIdKey, defaults.EndOfMessageId, tokens.Length),
            AddBos = file.GetValueOrDefault(AddBosKey, defaults.AddBos),
            AddEos = file.GetValueOrDefault(AddEosKey, defaults.AddEos),
            AddSpacePrefix = file.GetValueOrDefault(AddSpacePrefixKey, defaults.AddSpacePrefix),
            RightStripSpecialTokens = IsPhiThree(file),
        };

        return new SentencePieceTokenizer(tokens, scores, types, options);
    }

    /// <summary>
    /// The vocabulary arrays are parallel (entry i of each describes token i); a file whose arrays disagree in
    /// length is malformed, and the error names the key, as any other malformed metadata does.
    /// </summary>
    private static void RequireConsistentArrays(GgufFile file, string[] tokens, float[]? scores, int[]? types)
    {
        if (tokens.Length == 0)
        {
            throw new GgufFormatException(file.FilePath, -1, $"metadata key '{TokensKey}' is an empty array; a vocabulary needs tokens.");
        }
        if (scores is not null && scores.Length != tokens.Length)
        {
            throw new GgufFormatException(file.FilePath, -1,
                $"metadata key '{ScoresKey}' has {scores.Length} entries but '{TokensKey}' has {tokens.Length}.");
        }
        if (types is not null && types.Length != tokens.Length)
        {
            throw new GgufFormatException(file.FilePath, -1,
                $"metadata key '{TokenTypesKey}' has {types.Length} entries but '{TokensKey}' has {tokens.Length}.");
        }
    }

    /// <summary>A byte-level BPE tokenizer from the file's vocabulary, merges and pre-tokenizer name.</summary>
    public static BytePairTokenizer CreateBytePair(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        string[] tokens = file.GetArray<string>(TokensKey);
        float[]? scores = file.Metadata.ContainsKey(ScoresKey) ? file.GetArray<float>(ScoresKey) : null;
        int[]? types = file.Metadata.ContainsKey(TokenTypesKey) ? file.GetArray<int>(TokenTypesKey) : null;
        RequireConsistentArrays(file, tokens, scores, types);
        string[] merges = file.GetArray<string>(MergesKey);
        string? preTokenizer = file.GetValueOrDefault<string?>(PreTokenizerKey, null);

        var defaults = new BytePairOptions();
        var options = new BytePairOptions
        {
            PreTokenizer = preTokenizer,
            BosId = ReadSpecialId(file, BosIdKey, defaults.BosId, tokens.Length),
            EosId = ReadSpecialId(file, EosIdKey, defaults.EosId, tokens.Length),
            UnknownId = ReadSpecialId(file, UnknownIdKey, defaults.UnknownId, tokens.Length),
            EndOfTurnId = ReadSpecialId(file, EndOfTurnIdKey, defaults.EndOfTurnId, tokens.Length),
            EndOfMessageId = ReadSpecialId(file, EndOfMessageIdKey, defaults.EndOfMessageId, tokens.Length),
            AddBos = file.Metadata.ContainsKey(AddBosKey) ? file.GetValue<bool>(AddBosKey) : null,
            AddEos = file.GetValueOrDefault(AddEosKey, defaults.AddEos),
            AddSpacePrefix = file.GetValueOrDefault(AddSpacePrefixKey, defaults.AddSpacePrefix),
            RightStripSpecialTokens = IsPhiThree(file),
        };

        return new BytePairTokenizer(tokens, scores, types, merges, options);
    }

    /// <summary>llama.cpp gives Phi-3's special tokens right-strip by model name (general.name, any case).</summary>
    private static bool IsPhiThree(GgufFile file)
    {
        string name = file.TryGetValue("general.name", out string? value) ? value ?? "" : "";
        return name.Contains("phi-3", StringComparison.OrdinalIgnoreCase) || name.Contains("phi3", StringComparison.OrdinalIgnoreCase);
    }

    private static int ReadSpecialId(GgufFile file, string key, int defaultId, int vocabularySize)
    {
        long id = file.GetValueOrDefault(key, (long)defaultId);
        return id >= 0 && id < vocabularySize ? (int)id : defaultId;
    }
}
