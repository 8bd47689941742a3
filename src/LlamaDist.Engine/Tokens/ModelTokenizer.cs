using System.Text;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Tokenization;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Tokens;

/// <summary>
/// A model's tokenizer loaded from its GGUF (only the tokenizer.* metadata is read): text to ids and back, as
/// llama-tokenize and llama_detokenize do. Loaded once and reused for every text of a pipeline; thread-safe.
/// </summary>
public sealed class ModelTokenizer
{
    private readonly ITokenizer tokenizer;

    private ModelTokenizer(string modelPath, ITokenizer tokenizer)
    {
        ModelPath = modelPath;
        this.tokenizer = tokenizer;
    }

    public string ModelPath { get; }

    public int VocabularySize => tokenizer.VocabularySize;

    /// <summary>Loads the tokenizer of <paramref name="modelPath"/>; ModelNotFound, InvalidModelFile or UnsupportedTokenizer.</summary>
    public static ModelTokenizer Load(string modelPath)
    {
        string fullPath = ModelPaths.Resolve(modelPath);
        return ExceptionTranslation.Run(fullPath, () =>
        {
            try
            {
                using GgufFile file = GgufFile.Open(fullPath);
                return new ModelTokenizer(fullPath, TokenizerFactory.FromGguf(file));
            }
            catch (InvalidVocabularyException invalid)
            {
                throw new LlamaDistException(LlamaErrorKind.InvalidModelFile,
                    $"The vocabulary of '{fullPath}' is invalid: {invalid.Message}", fullPath, invalid);
            }
        });
    }

    /// <summary>llama_tokenize(text, addSpecial, parseSpecial).</summary>
    public int[] Tokenize(string text, bool addSpecial, bool parseSpecial)
    {
        ArgumentNullException.ThrowIfNull(text);
        return tokenizer.Encode(text, addSpecial, parseSpecial);
    }

    /// <summary>Ids with their pieces, as llama-tokenize lists them (special tokens rendered as their text).</summary>
    public TokenPiece[] TokenizeDetailed(string text, bool addSpecial, bool parseSpecial) =>
        Tokenize(text, addSpecial, parseSpecial).Select(id => new TokenPiece(id, Piece(id))).ToArray();

    /// <summary>
    /// llama_detokenize(ids, remove_special: false, unparse_special: <paramref name="renderSpecial"/>): incomplete
    /// UTF-8 at the end becomes U+FFFD. An id outside the vocabulary is InvalidArgument.
    /// </summary>
    public string Detokenize(IReadOnlyList<int> ids, bool renderSpecial)
    {
        ArgumentNullException.ThrowIfNull(ids);
        int[] checkedIds = ids.ToArray();
        foreach (int id in checkedIds)
        {
            CheckId(id);
        }

        return tokenizer.Decode(checkedIds, removeSpecial: false, unparseSpecial: renderSpecial);
    }

    /// <summary>One token's text with special tokens rendered (llama_token_to_piece(special: true)).</summary>
    public string Piece(int id)
    {
        CheckId(id);
        return tokenizer switch
        {
            SentencePieceTokenizer sentencePiece => Encoding.UTF8.GetString(sentencePiece.TokenToBytes(id, renderSpecial: true)),
            BytePairTokenizer bytePair => Encoding.UTF8.GetString(bytePair.TokenToBytes(id, renderSpecial: true)),
            _ => tokenizer.TokenToPiece(id),
        };
    }

    /// <summary>"spm" or "gpt2", and the BPE pre-tokenizer name (null for SentencePiece).</summary>
    public (string Kind, string? PreTokenizer) Describe() => tokenizer switch
    {
        BytePairTokenizer bytePair => ("gpt2", bytePair.PreTokenizer.Name),
        _ => ("spm", null),
    };

    private void CheckId(int id)
    {
        if ((uint)id >= (uint)tokenizer.VocabularySize)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument,
                $"Token id {id} is outside the vocabulary of '{ModelPath}' (0..{tokenizer.VocabularySize - 1}).",
                id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}
