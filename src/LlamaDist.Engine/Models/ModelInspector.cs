using System.Globalization;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Models;

/// <summary>Reads a model's header and tensor table into a <see cref="ModelSummary"/>.</summary>
public static class ModelInspector
{
    public static ModelSummary Inspect(string path)
    {
        var fullPath = ModelPaths.Resolve(path);
        return ExceptionTranslation.Run(fullPath, () =>
        {
            using var file = GgufFile.Open(fullPath);
            return Summarize(file);
        });
    }

    internal static ModelSummary Summarize(GgufFile file)
    {
        var config = LlamaConfig.FromGguf(file);
        var parameters = file.Tensors.Sum(tensor => tensor.ElementCount);

        // Group by type, heaviest first, to name the model's type the way llama.cpp does (by its matrices).
        var byType = file.Tensors
            .GroupBy(tensor => tensor.Type)
            .Select(group => (Type: GgmlTypeInfo.Name(group.Key), Count: group.Count(), Elements: group.Sum(t => t.ElementCount)))
            .OrderByDescending(entry => entry.Elements)
            .ToList();

        return new ModelSummary
        {
            Path = file.FilePath,
            Name = file.GetValueOrDefault("general.name", System.IO.Path.GetFileNameWithoutExtension(file.FilePath)),
            Architecture = config.Architecture,
            ParameterCount = parameters,
            FileSize = file.FileSize,
            GgufVersion = file.Version,
            PredominantType = byType.Count == 0 ? "none" : byType[0].Type,
            WeightTypes = string.Join(' ', byType.Select(entry => string.Create(CultureInfo.InvariantCulture, $"{entry.Type}:{entry.Count}"))),
            TensorCount = file.Tensors.Count,
            LayerCount = config.LayerCount,
            EmbeddingLength = config.EmbeddingLength,
            FeedForwardLength = config.FeedForwardLength,
            HeadCount = config.HeadCount,
            KvHeadCount = config.KvHeadCount,
            ContextLength = config.ContextLength,
            VocabularySize = config.VocabularySize,
            TokenizerModel = file.GetValueOrDefault("tokenizer.ggml.model", "none"),
            PreTokenizer = file.GetValueOrDefault("tokenizer.ggml.pre", ""),
        };
    }
}
