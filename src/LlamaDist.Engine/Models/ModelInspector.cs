using System.Globalization;
using LlamaDist.Core.Chat;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Tokenization;
using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Models;

/// <summary>
/// Reads a model's header and tensor table into a <see cref="ModelSummary"/>. Any readable GGUF is described,
/// whatever its architecture: the engine's own loaders (hyper-parameters, tokenizer, tensor checks) decide
/// whether it can run, and their refusal becomes <see cref="ModelSummary.Reason"/> instead of an error, so a
/// folder of mixed models lists completely. Only a file that is not a readable GGUF is an error.
/// </summary>
public static class ModelInspector
{
    private const string TokenEmbeddingName = "token_embd.weight";

    public static ModelSummary Inspect(string path)
    {
        var fullPath = ModelPaths.Resolve(path);
        return ExceptionTranslation.Run(fullPath, () =>
        {
            using var file = GgufFile.Open(fullPath);
            return Summarize(file);
        });
    }

    /// <summary>Describes <paramref name="file"/>, checking it the way loading it would (nothing is copied).</summary>
    internal static ModelSummary Summarize(GgufFile file)
    {
        LlamaConfig config;
        try
        {
            config = LlamaConfig.FromGguf(file);
            TokenizerFactory.FromGguf(file);
            // Every tensor checked (present, shaped, of a supported type, none the engine would ignore) on the
            // mapping, as loading does; nothing is copied.
            LlamaWeights.Load(file, config, LayerRange.All(config.LayerCount), WeightMemory.Mapped);
        }
        catch (Exception refusal) when (refusal is UnsupportedModelException or UnsupportedTokenizerException
            or InvalidVocabularyException or GgufFormatException)
        {
            return Describe(file, HeaderShape(file), refusal.Message);
        }
        return Summarize(file, config);
    }

    /// <summary>Describes a model the engine has already loaded with <paramref name="config"/>.</summary>
    internal static ModelSummary Summarize(GgufFile file, LlamaConfig config) =>
        Describe(file, new Shape(config.Architecture, config.LayerCount, config.EmbeddingLength,
            config.FeedForwardLength, config.HeadCount, config.KvHeadCount, config.ContextLength,
            config.VocabularySize), reason: null);

    private static ModelSummary Describe(GgufFile file, Shape shape, string? reason)
    {
        var parameters = file.Tensors.Sum(tensor => tensor.ElementCount);

        // Group by type, heaviest first, to name the model's type the way llama.cpp does (by its matrices).
        var byType = file.Tensors
            .GroupBy(tensor => tensor.Type)
            .Select(group => (Type: TypeName(group.Key), Count: group.Count(), Elements: group.Sum(t => t.ElementCount)))
            .OrderByDescending(entry => entry.Elements)
            .ToList();

        return new ModelSummary
        {
            Path = file.FilePath,
            Name = file.TryGetValue("general.name", out string name) ? name : System.IO.Path.GetFileNameWithoutExtension(file.FilePath),
            Architecture = shape.Architecture,
            ParameterCount = parameters,
            FileSize = file.FileSize,
            GgufVersion = file.Version,
            PredominantType = byType.Count == 0 ? "none" : byType[0].Type,
            WeightTypes = string.Join(' ', byType.Select(entry => string.Create(CultureInfo.InvariantCulture, $"{entry.Type}:{entry.Count}"))),
            TensorCount = file.Tensors.Count,
            LayerCount = shape.LayerCount,
            EmbeddingLength = shape.EmbeddingLength,
            FeedForwardLength = shape.FeedForwardLength,
            HeadCount = shape.HeadCount,
            KvHeadCount = shape.KvHeadCount,
            ContextLength = shape.ContextLength,
            VocabularySize = shape.VocabularySize,
            TokenizerModel = file.TryGetValue("tokenizer.ggml.model", out string tokenizer) ? tokenizer : "none",
            PreTokenizer = file.TryGetValue("tokenizer.ggml.pre", out string preTokenizer) ? preTokenizer : "",
            ChatTemplate = file.TryGetValue(ChatTemplates.MetadataKey, out string chatTemplate) ? chatTemplate : null,
            Supported = reason is null,
            Reason = reason ?? "",
        };
    }

    /// <summary>
    /// The shape as the header states it, read from the &lt;general.architecture&gt;.* keys llama.cpp uses for
    /// every architecture. Keys that are missing or not a single number (some architectures give per-layer
    /// arrays) read as 0; nothing here throws, since this describes files the engine refused.
    /// </summary>
    private static Shape HeaderShape(GgufFile file)
    {
        string architecture = file.TryGetValue("general.architecture", out string name) ? name : "";
        string prefix = architecture + ".";
        int headCount = Number(file, prefix + "attention.head_count");
        int vocabularySize = file.FindTensor(TokenEmbeddingName) is { Dimensions: [_, var rows] } && rows <= int.MaxValue
            ? (int)rows
            : file.Metadata.TryGetValue(TokenizerFactory.TokensKey, out object? tokens) && tokens is GgufArray array
                ? array.Count
                : 0;
        return new Shape(architecture,
            Number(file, prefix + "block_count"),
            Number(file, prefix + "embedding_length"),
            Number(file, prefix + "feed_forward_length"),
            headCount,
            file.TryGetValue(prefix + "attention.head_count_kv", out int kvHeads) ? kvHeads : headCount,
            Number(file, prefix + "context_length"),
            vocabularySize);
    }

    private static int Number(GgufFile file, string key) => file.TryGetValue(key, out int value) ? value : 0;

    private static string TypeName(GgmlType type) =>
        GgmlTypeInfo.IsKnown(type) ? GgmlTypeInfo.Name(type) : string.Create(CultureInfo.InvariantCulture, $"type{(uint)type}");

    private readonly record struct Shape(string Architecture, int LayerCount, int EmbeddingLength,
        int FeedForwardLength, int HeadCount, int KvHeadCount, int ContextLength, int VocabularySize);
}
