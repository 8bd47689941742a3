using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Models;

/// <summary>Where models are: user paths made absolute and checked, and the model shipped with the module.</summary>
public static class ModelPaths
{
    /// <summary>File name of the embedded default model (random weights, for demos and tests).</summary>
    public const string DefaultModelFileName = "llama-2-tiny-random.gguf";

    /// <summary>Absolute path of an existing model file, or <see cref="LlamaErrorKind.ModelNotFound"/>.</summary>
    public static string Resolve(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, "A model path is required.", path);
        }

        var fullPath = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(fullPath))
        {
            throw new LlamaDistException(LlamaErrorKind.ModelNotFound, $"'{fullPath}' is a directory, not a GGUF model file.", fullPath);
        }
        if (!File.Exists(fullPath))
        {
            throw new LlamaDistException(LlamaErrorKind.ModelNotFound, $"Model file not found: {fullPath}", fullPath);
        }
        return fullPath;
    }

    /// <summary>The embedded model: Models/ beside the engine (tests) or module/Models (the module layout).</summary>
    public static string DefaultModelPath()
    {
        var engineDirectory = System.IO.Path.GetDirectoryName(typeof(ModelPaths).Assembly.Location)!;
        string[] candidates =
        [
            System.IO.Path.Combine(engineDirectory, "Models", DefaultModelFileName),
            // module/bin/Dependencies -> module/Models
            System.IO.Path.Combine(engineDirectory, "..", "..", "Models", DefaultModelFileName),
        ];
        return System.IO.Path.GetFullPath(candidates.FirstOrDefault(File.Exists) ?? candidates[^1]);
    }
}
