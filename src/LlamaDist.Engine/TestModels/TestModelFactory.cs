using LlamaDist.Core.Gguf;
using LlamaDist.Core.TestModels;
using LlamaDist.Core.Tokenization;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.TestModels;

/// <summary>
/// Writes synthetic models (deterministic pseudo-random weights) for tests and benchmarks, in the GGUF layout of
/// one of the architectures llama.cpp runs, with the vocabulary of another GGUF or of a Hugging Face tokenizer.json.
/// </summary>
public static class TestModelFactory
{
    /// <summary>Presets by name: Tiny (multi-head), Small (grouped-query), TinyLlama (the 1.1B shape).</summary>
    public static IReadOnlyList<string> Presets { get; } = Enum.GetNames<TestModelPreset>();

    /// <summary>
    /// Architectures by name: Llama (the default), Llama3, Qwen2, Qwen3, Phi3, Phi35, Gemma2, Mistral; each written with
    /// the keys and tensors llama.cpp's converter gives that family.
    /// </summary>
    public static IReadOnlyList<string> Architectures { get; } = Enum.GetNames<TestModelArchitecture>();

    /// <summary>Weight types the writer can produce.</summary>
    public static IReadOnlyList<string> WeightTypes { get; } = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"];

    /// <param name="vocabularyFrom">A GGUF whose tokenizer the new model copies (the embedded model when null).</param>
    /// <param name="architecture">One of <see cref="Architectures"/>.</param>
    public static ModelSummary Create(string path, string preset, string weightType, int seed, string? vocabularyFrom,
        bool overwrite, IProgress<double>? progress = null, CancellationToken cancellationToken = default,
        string architecture = nameof(TestModelArchitecture.Llama))
    {
        var fullPath = Path.GetFullPath(path);
        var (parsedPreset, parsedArchitecture, type) = CheckRequest(fullPath, preset, architecture, weightType, overwrite);

        var vocabularyPath = ModelPaths.Resolve(vocabularyFrom ?? ModelPaths.DefaultModelPath());
        return WriteInPlace(fullPath, vocabularyPath, temporaryPath =>
            TestModelWriter.Write(temporaryPath, parsedPreset, parsedArchitecture, type, seed, vocabularyPath, progress, cancellationToken));
    }

    /// <summary>
    /// Like <see cref="Create"/>, with the vocabulary imported from a Hugging Face tokenizer.json (gzipped or not) and
    /// optionally its tokenizer_config.json (BOS/EOS, add_bos/add_eos, chat template); the model's vocabulary size
    /// follows the tokenizer. An unusable tokenizer file is InvalidArgument; an unrecognised pre-tokenizer is
    /// UnsupportedTokenizer.
    /// </summary>
    public static ModelSummary CreateWithTokenizer(string path, string preset, string weightType, int seed,
        string tokenizerJsonPath, string? tokenizerConfigPath, bool overwrite, IProgress<double>? progress = null,
        CancellationToken cancellationToken = default, string architecture = nameof(TestModelArchitecture.Llama))
    {
        var fullPath = Path.GetFullPath(path);
        var (parsedPreset, parsedArchitecture, type) = CheckRequest(fullPath, preset, architecture, weightType, overwrite);
        TokenizerMetadata tokenizer = ImportTokenizer(tokenizerJsonPath, tokenizerConfigPath);
        return WriteInPlace(fullPath, tokenizerJsonPath, temporaryPath =>
            TestModelWriter.Write(temporaryPath, TestModelShape.For(parsedPreset), parsedArchitecture, type, seed, tokenizer, progress,
                cancellationToken));
    }

    /// <summary>Reads tokenizer.json (+ tokenizer_config.json) into GGUF tokenizer metadata, with engine errors.</summary>
    internal static TokenizerMetadata ImportTokenizer(string tokenizerJsonPath, string? tokenizerConfigPath)
    {
        string jsonPath = ResolveInput(tokenizerJsonPath, "tokenizer.json");
        string? configPath = tokenizerConfigPath is null ? null : ResolveInput(tokenizerConfigPath, "tokenizer_config.json");
        return ExceptionTranslation.Run(jsonPath, () =>
        {
            try
            {
                return HuggingFaceTokenizerImport.Read(jsonPath, configPath);
            }
            catch (InvalidVocabularyException invalid)
            {
                throw new LlamaDistException(LlamaErrorKind.InvalidArgument, invalid.Message, jsonPath, invalid);
            }
        });
    }

    private static string ResolveInput(string path, string what)
    {
        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"The {what} file '{fullPath}' does not exist.", fullPath);
        }
        return fullPath;
    }

    private static (TestModelPreset Preset, TestModelArchitecture Architecture, GgmlType Type) CheckRequest(string fullPath, string preset,
        string architecture, string weightType, bool overwrite)
    {
        if (!Enum.TryParse<TestModelPreset>(preset, ignoreCase: true, out var parsedPreset))
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Unknown preset '{preset}'. Presets: {string.Join(", ", Presets)}.", nameof(preset));
        }
        if (!Enum.TryParse<TestModelArchitecture>(architecture, ignoreCase: true, out var parsedArchitecture)
            || !Enum.IsDefined(parsedArchitecture))
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Unknown architecture '{architecture}'. Architectures: {string.Join(", ", Architectures)}.", nameof(architecture));
        }
        if (!WeightTypes.Contains(weightType, StringComparer.OrdinalIgnoreCase) || !Enum.TryParse<GgmlType>(weightType, ignoreCase: true, out var type))
        {
            throw new LlamaDistException(LlamaErrorKind.UnsupportedWeightType, $"Weight type '{weightType}' cannot be written. Types: {string.Join(", ", WeightTypes)}.", nameof(weightType));
        }
        if (File.Exists(fullPath) && !overwrite)
        {
            throw new LlamaDistException(LlamaErrorKind.FileExists, $"'{fullPath}' already exists; use -Force to overwrite it.", fullPath);
        }
        var directory = Path.GetDirectoryName(fullPath);
        if (directory is not null && !Directory.Exists(directory))
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"The directory '{directory}' does not exist.", directory);
        }
        return (parsedPreset, parsedArchitecture, type);
    }

    private static ModelSummary WriteInPlace(string fullPath, string sourcePath, Action<string> write)
    {
        // Write beside the target and move into place, so a cancelled or failed run never leaves half a model.
        var temporaryPath = fullPath + ".partial";
        try
        {
            ExceptionTranslation.Run(sourcePath, () =>
            {
                write(temporaryPath);
                return true;
            });
            File.Move(temporaryPath, fullPath, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporaryPath)) File.Delete(temporaryPath);
        }
        return ModelInspector.Inspect(fullPath);
    }
}
