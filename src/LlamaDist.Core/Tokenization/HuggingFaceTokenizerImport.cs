using System.IO.Compression;
using System.Text.Json;

namespace LlamaDist.Core.Tokenization;

/// <summary>
/// Turns a Hugging Face byte-level BPE tokenizer (tokenizer.json, optionally gzipped, plus tokenizer_config.json) into
/// the tokenizer.* GGUF metadata llama.cpp's convert script writes for it: tokens by id (gaps as "[PADn]", Unused),
/// token types (added tokens marked special, or looking special like "&lt;|...|&gt;", become Control; the other added
/// tokens User-defined), merges as "left right", the pre-tokenizer name llama.cpp uses for the Split expression
/// (llama-bpe for Llama 3, qwen2 for Qwen 2/3, gpt-2 for plain byte-level), BOS/EOS/EOT ids, add_bos/add_eos and the
/// chat template.
/// </summary>
public static class HuggingFaceTokenizerImport
{
    private const string Llama3Expression =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private const string Qwen2Expression =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    // Turn-ending texts llama.cpp recognises, in the order an EOT id is chosen from them.
    private static readonly string[] EndOfTurnTexts = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"];

    /// <summary>Largest vocabulary accepted (ids 0..2^21-1; today's largest vocabularies hold about 262k tokens), so a
    /// single huge id cannot make the import allocate millions of padding tokens.</summary>
    public const int MaximumVocabularySize = 1 << 21;

    /// <summary>Largest tokenizer.json accepted (uncompressed), so a hostile file cannot exhaust memory.</summary>
    public const long MaximumJsonBytes = 256L << 20;

    /// <summary>Reads the files and returns the metadata (see the type's summary).</summary>
    /// <exception cref="InvalidVocabularyException">A file is not a byte-level BPE tokenizer of the expected shape.</exception>
    /// <exception cref="UnsupportedTokenizerException">The pre-tokenizer is not one llama.cpp has a name for.</exception>
    public static TokenizerMetadata Read(string tokenizerJsonPath, string? tokenizerConfigPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(tokenizerJsonPath);
        using JsonDocument tokenizer = ParseFile(tokenizerJsonPath);
        using JsonDocument? config = tokenizerConfigPath is null ? null : ParseFile(tokenizerConfigPath);
        return Convert(tokenizer.RootElement, config?.RootElement);
    }

    private static TokenizerMetadata Convert(JsonElement tokenizer, JsonElement? config)
    {
        JsonElement model = Property(tokenizer, "model", JsonValueKind.Object, "tokenizer.json");
        string modelType = model.TryGetProperty("type", out JsonElement type) ? type.GetString() ?? "" : "";
        if (modelType != "BPE")
        {
            throw new InvalidVocabularyException(
                $"tokenizer.json holds a '{TextSanitizer.ForMessage(modelType)}' model; only byte-level BPE tokenizers can be imported.");
        }

        var textById = new Dictionary<int, string>();
        foreach (JsonProperty entry in Property(model, "vocab", JsonValueKind.Object, "model").EnumerateObject())
        {
            textById[ReadId(entry.Value, entry.Name)] = entry.Name;
        }

        var added = new Dictionary<int, bool>(); // id -> special flag
        if (tokenizer.TryGetProperty("added_tokens", out JsonElement addedTokens) && addedTokens.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement addedToken in addedTokens.EnumerateArray())
            {
                string content = Property(addedToken, "content", JsonValueKind.String, "added_tokens[]").GetString()!;
                int id = ReadId(Property(addedToken, "id", JsonValueKind.Number, "added_tokens[]"), content);
                textById[id] = content;
                added[id] = addedToken.TryGetProperty("special", out JsonElement special) && special.ValueKind == JsonValueKind.True;
            }
        }

        if (textById.Count == 0)
        {
            throw new InvalidVocabularyException("tokenizer.json has no tokens.");
        }

        int size = textById.Keys.Max() + 1;
        var tokens = new string[size];
        var types = new int[size];
        for (int id = 0; id < size; id++)
        {
            if (!textById.TryGetValue(id, out string? text))
            {
                tokens[id] = $"[PAD{id}]";
                types[id] = (int)TokenType.Unused;
            }
            else if (added.TryGetValue(id, out bool special))
            {
                tokens[id] = text;
                types[id] = (int)(special || LooksSpecial(text) ? TokenType.Control : TokenType.UserDefined);
            }
            else
            {
                tokens[id] = text;
                types[id] = (int)TokenType.Normal;
            }
        }

        string[] merges = ReadMerges(Property(model, "merges", JsonValueKind.Array, "model"));
        string preTokenizer = ChoosePreTokenizer(tokenizer);
        var idByText = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < size; id++)
        {
            idByText[tokens[id]] = id;
        }

        var entries = new List<KeyValuePair<string, object>>
        {
            new(TokenizerFactory.ModelKey, "gpt2"),
            new(TokenizerFactory.PreTokenizerKey, preTokenizer),
            new(TokenizerFactory.TokensKey, tokens),
            new(TokenizerFactory.TokenTypesKey, types),
            new(TokenizerFactory.MergesKey, merges),
        };

        int bosId = SpecialId(config, "bos_token", idByText);
        int eosId = SpecialId(config, "eos_token", idByText);
        if (bosId >= 0)
        {
            entries.Add(new(TokenizerFactory.BosIdKey, (uint)bosId));
        }

        if (eosId >= 0)
        {
            entries.Add(new(TokenizerFactory.EosIdKey, (uint)eosId));
        }

        foreach (string text in EndOfTurnTexts)
        {
            if (idByText.TryGetValue(text, out int eotId) && types[eotId] == (int)TokenType.Control)
            {
                entries.Add(new(TokenizerFactory.EndOfTurnIdKey, (uint)eotId));
                break;
            }
        }

        (bool? addBos, bool? addEos) = AddSpecialFlags(tokenizer, config, bosId, eosId, tokens);
        if (addBos is { } bos)
        {
            entries.Add(new(TokenizerFactory.AddBosKey, bos));
        }

        if (addEos is { } eos)
        {
            entries.Add(new(TokenizerFactory.AddEosKey, eos));
        }

        if (ReadChatTemplate(config) is { } template)
        {
            entries.Add(new(ChatTemplateKey, template));
        }

        return new TokenizerMetadata(entries, size, preTokenizer);
    }

    /// <summary>The GGUF key of the Jinja chat template.</summary>
    public const string ChatTemplateKey = "tokenizer.chat_template";

    /// <summary>llama.cpp's convert script treats these added tokens as control tokens even when not marked special.</summary>
    private static bool LooksSpecial(string text) =>
        text is "<pad>" or "<mask>" or "<2mass>" or "[@BOS@]"
        || (text.StartsWith("<|", StringComparison.Ordinal) && text.EndsWith("|>", StringComparison.Ordinal))
        || (text.StartsWith("<｜", StringComparison.Ordinal) && text.EndsWith("｜>", StringComparison.Ordinal))
        || (text.StartsWith("<start_of_", StringComparison.Ordinal) && text.EndsWith('>'))
        || (text.StartsWith("<end_of_", StringComparison.Ordinal) && text.EndsWith('>'));

    /// <summary>
    /// The llama.cpp pre-tokenizer for the tokenizer.json pre_tokenizer: the Llama 3 or Qwen 2 Split expression
    /// (followed by a ByteLevel step without its own regex), or a plain ByteLevel with GPT-2's regex.
    /// </summary>
    private static string ChoosePreTokenizer(JsonElement tokenizer)
    {
        if (!tokenizer.TryGetProperty("pre_tokenizer", out JsonElement pre) || pre.ValueKind != JsonValueKind.Object)
        {
            throw UnsupportedTokenizerException.ForUnrecognisedPreTokenizer("(none)");
        }

        string preType = pre.TryGetProperty("type", out JsonElement typeElement) ? typeElement.GetString() ?? "" : "";
        if (preType == "ByteLevel" && (!pre.TryGetProperty("use_regex", out JsonElement useRegex) || useRegex.ValueKind == JsonValueKind.True))
        {
            return "gpt-2";
        }

        if (preType == "Sequence" && pre.TryGetProperty("pretokenizers", out JsonElement steps) && steps.ValueKind == JsonValueKind.Array)
        {
            string? expression = null;
            foreach (JsonElement step in steps.EnumerateArray())
            {
                if (step.TryGetProperty("type", out JsonElement stepType) && stepType.GetString() == "Split"
                    && step.TryGetProperty("pattern", out JsonElement pattern) && pattern.ValueKind == JsonValueKind.Object
                    && pattern.TryGetProperty("Regex", out JsonElement regex))
                {
                    expression = regex.GetString();
                }
            }

            if (expression == Llama3Expression)
            {
                return "llama-bpe";
            }

            if (expression == Qwen2Expression)
            {
                return "qwen2";
            }

            throw UnsupportedTokenizerException.ForUnrecognisedPreTokenizer(TextSanitizer.ForMessage(expression ?? "Sequence without a Split"));
        }

        throw UnsupportedTokenizerException.ForUnrecognisedPreTokenizer(TextSanitizer.ForMessage(preType));
    }

    private static string[] ReadMerges(JsonElement merges)
    {
        var result = new string[merges.GetArrayLength()];
        int index = 0;
        foreach (JsonElement merge in merges.EnumerateArray())
        {
            result[index++] = merge.ValueKind switch
            {
                JsonValueKind.String => merge.GetString()!,
                JsonValueKind.Array when merge.GetArrayLength() == 2
                    && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String =>
                    merge[0].GetString() + " " + merge[1].GetString(),
                _ => throw new InvalidVocabularyException(
                    $"tokenizer.json merge {index} is neither \"left right\" nor [\"left\", \"right\"]."),
            };
        }

        return result;
    }

    /// <summary>The id of tokenizer_config's bos_token/eos_token (a string or {"content": ...}), or -1.</summary>
    private static int SpecialId(JsonElement? config, string name, Dictionary<string, int> idByText)
    {
        if (config is not { } root || !root.TryGetProperty(name, out JsonElement value))
        {
            return -1;
        }

        string? text = value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Object when value.TryGetProperty("content", out JsonElement content) => content.GetString(),
            _ => null,
        };
        return text is not null && idByText.TryGetValue(text, out int id) ? id : -1;
    }

    /// <summary>
    /// add_bos_token / add_eos_token from tokenizer_config.json, else what tokenizer.json's TemplateProcessing puts
    /// around a single sequence (as llama.cpp's convert script reads it), else unset.
    /// </summary>
    private static (bool? AddBos, bool? AddEos) AddSpecialFlags(JsonElement tokenizer, JsonElement? config, int bosId,
        int eosId, string[] tokens)
    {
        bool? addBos = null;
        bool? addEos = null;
        if (config is { } root)
        {
            addBos = ReadBool(root, "add_bos_token");
            addEos = ReadBool(root, "add_eos_token");
        }

        if ((addBos is null || addEos is null) && FindTemplateProcessing(tokenizer) is { } template
            && template.TryGetProperty("single", out JsonElement single) && single.ValueKind == JsonValueKind.Array
            && single.GetArrayLength() > 0)
        {
            addBos ??= bosId >= 0 && SpecialTokenIdOf(single[0]) == tokens[bosId];
            addEos ??= eosId >= 0 && SpecialTokenIdOf(single[single.GetArrayLength() - 1]) == tokens[eosId];
        }

        return (addBos, addEos);
    }

    private static JsonElement? FindTemplateProcessing(JsonElement tokenizer)
    {
        if (!tokenizer.TryGetProperty("post_processor", out JsonElement post) || post.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (post.TryGetProperty("type", out JsonElement type) && type.GetString() == "TemplateProcessing")
        {
            return post;
        }

        if (post.TryGetProperty("processors", out JsonElement processors) && processors.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement processor in processors.EnumerateArray())
            {
                if (processor.TryGetProperty("type", out JsonElement processorType)
                    && processorType.GetString() == "TemplateProcessing")
                {
                    return processor;
                }
            }
        }

        return null;
    }

    private static string? SpecialTokenIdOf(JsonElement item) =>
        item.ValueKind == JsonValueKind.Object && item.TryGetProperty("SpecialToken", out JsonElement special)
            && special.TryGetProperty("id", out JsonElement id) ? id.GetString() : null;

    private static bool? ReadBool(JsonElement root, string name) =>
        root.TryGetProperty(name, out JsonElement value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : null;

    /// <summary>chat_template as a string, or the "default" entry of a list of named templates.</summary>
    private static string? ReadChatTemplate(JsonElement? config)
    {
        if (config is not { } root || !root.TryGetProperty("chat_template", out JsonElement template))
        {
            return null;
        }

        if (template.ValueKind == JsonValueKind.String)
        {
            return template.GetString();
        }

        if (template.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement named in template.EnumerateArray())
            {
                if (named.TryGetProperty("name", out JsonElement name) && name.GetString() == "default"
                    && named.TryGetProperty("template", out JsonElement text))
                {
                    return text.GetString();
                }
            }
        }

        return null;
    }

    private static int ReadId(JsonElement value, string text)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int id) || id < 0 || id >= MaximumVocabularySize)
        {
            throw new InvalidVocabularyException(
                $"tokenizer.json gives token '{TextSanitizer.ForMessage(text)}' an id that is not in 0..{MaximumVocabularySize - 1}.");
        }

        return id;
    }

    private static JsonElement Property(JsonElement element, string name, JsonValueKind kind, string where)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out JsonElement value)
            || value.ValueKind != kind)
        {
            throw new InvalidVocabularyException($"{where} has no '{name}' of type {kind}.");
        }

        return value;
    }

    /// <summary>Parses a JSON file, gunzipping it when it starts with the gzip magic bytes; bounded in size.</summary>
    private static JsonDocument ParseFile(string path)
    {
        using FileStream file = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[2];
        int read = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        file.Position = 0;
        using Stream content = read == 2 && magic[0] == 0x1F && magic[1] == 0x8B
            ? new GZipStream(file, CompressionMode.Decompress)
            : file;
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[1 << 16];
        int count;
        while ((count = content.Read(chunk)) > 0)
        {
            if (buffer.Length + count > MaximumJsonBytes)
            {
                throw new InvalidVocabularyException($"'{path}' is larger than {MaximumJsonBytes >> 20} MiB of JSON.");
            }

            buffer.Write(chunk, 0, count);
        }

        try
        {
            return JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length),
                new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException error)
        {
            throw new InvalidVocabularyException($"'{path}' is not valid JSON: {error.Message}");
        }
    }
}
