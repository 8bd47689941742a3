using LlamaDist.Core.Gguf;
using LlamaDist.Core.Tokenization;

namespace LlamaDist.Core.TestModels;

/// <summary>
/// A small SentencePiece ("llama") vocabulary made up on the spot, for test models that are evaluated on token ids
/// and need no real tokenizer file: &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, the 256 byte tokens, then "▁t{i}" pieces up to
/// the size asked for. A small vocabulary keeps the output head (n_vocab rows) cheap where that matters, such as
/// device kernels checked on a simulated accelerator.
/// </summary>
public static class SyntheticVocabulary
{
    public static TokenizerMetadata Create(int size)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 259 + 1);
        var tokens = new string[size];
        var scores = new float[size];
        var types = new int[size];
        tokens[0] = "<unk>";
        tokens[1] = "<s>";
        tokens[2] = "</s>";
        types[0] = (int)TokenType.Unknown;
        types[1] = types[2] = (int)TokenType.Control;
        for (int b = 0; b < 256; b++)
        {
            tokens[3 + b] = $"<0x{b:X2}>";
            types[3 + b] = (int)TokenType.Byte;
        }
        for (int i = 259; i < size; i++)
        {
            tokens[i] = $"\u2581t{i}";
            scores[i] = -i;
            types[i] = (int)TokenType.Normal;
        }
        var entries = new List<KeyValuePair<string, object>>
        {
            new("tokenizer.ggml.model", "llama"),
            new("tokenizer.ggml.tokens", new GgufArray(GgufValueType.String, tokens)),
            new("tokenizer.ggml.scores", new GgufArray(GgufValueType.Float32, scores)),
            new("tokenizer.ggml.token_type", new GgufArray(GgufValueType.Int32, types)),
            new("tokenizer.ggml.bos_token_id", 1u),
            new("tokenizer.ggml.eos_token_id", 2u),
            new("tokenizer.ggml.unknown_token_id", 0u),
        };
        return new TokenizerMetadata(entries, size, "");
    }
}
