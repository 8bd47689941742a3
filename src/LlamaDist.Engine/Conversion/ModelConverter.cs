using LlamaDist.Core.Conversion;
using LlamaDist.Core.Gguf;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Conversion;

/// <summary>
/// Converts a GGUF model to another weight type, like llama.cpp's llama-quantize: the presets, the per-tensor
/// type choices (K mixes, output head, fallbacks for rows that are not whole blocks) and general.file_type follow
/// llama.cpp (see LlamaDist.Core.Conversion.TensorTypeRules). Sources may be F32, F16, BF16 or already quantized;
/// a quantized source is dequantized and quantized again, which adds error (llama-quantize --allow-requantize).
/// </summary>
public static class ModelConverter
{
    /// <summary>
    /// Accepted type (preset) names: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S, Q3_K_M, Q3_K_L,
    /// Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K. Matching ignores case; Q3_K, Q4_K and Q5_K are also accepted as the
    /// _M mixes, as llama-quantize accepts them.
    /// </summary>
    public static IReadOnlyList<string> Types { get; } = QuantizationPresets.Names;

    /// <summary>
    /// Writes <paramref name="destinationPath"/>: the model at <paramref name="sourcePath"/> with its weights in
    /// <paramref name="type"/>. The file is written beside the destination under a temporary name and moved into
    /// place at the end, so a failure or cancellation leaves no partial destination.
    /// </summary>
    /// <param name="overwrite">Replace an existing destination (otherwise <see cref="LlamaErrorKind.FileExists"/>).</param>
    /// <param name="threads">Rows converted in parallel; 0 means every core.</param>
    /// <param name="progress">Fraction done, 0..1, increasing, at most once per percent, ending with 1.0.</param>
    /// <exception cref="LlamaDistException">ModelNotFound, InvalidModelFile, UnsupportedWeightType (unknown type,
    /// or a source tensor type the engine cannot decode), InvalidArgument, FileExists.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static ModelConversionResult Convert(string sourcePath, string destinationPath, string type, bool overwrite,
        int threads, IProgress<double>? progress, CancellationToken cancellationToken)
    {
        if (!QuantizationPresets.TryParse(type, out var preset))
        {
            throw new LlamaDistException(LlamaErrorKind.UnsupportedWeightType,
                $"Cannot convert to '{type}'. Types: {string.Join(", ", Types)}.", type);
        }
        if (threads < 0)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument,
                $"Threads must be 0 (every core) or more, not {threads}.", nameof(threads));
        }
        var source = ModelPaths.Resolve(sourcePath);
        if (string.IsNullOrWhiteSpace(destinationPath))
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, "A destination path is required.", destinationPath);
        }
        var destination = Path.GetFullPath(destinationPath);
        if (string.Equals(source, destination, OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal))
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument,
                $"The destination '{destination}' is the source; write the converted model to another file.", destination);
        }
        if (Directory.Exists(destination))
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"'{destination}' is a directory.", destination);
        }
        if (File.Exists(destination) && !overwrite)
        {
            throw new LlamaDistException(LlamaErrorKind.FileExists,
                $"'{destination}' already exists; use -Force to overwrite it.", destination);
        }
        var directory = Path.GetDirectoryName(destination);
        if (directory is not null && !Directory.Exists(directory))
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"The directory '{directory}' does not exist.", directory);
        }

        var result = ExceptionTranslation.Run(source, () =>
        {
            try
            {
                return ModelQuantizer.Quantize(source, destination, preset, overwrite, threads, progress, cancellationToken);
            }
            catch (NotSupportedException unsupported)
            {
                throw new LlamaDistException(LlamaErrorKind.UnsupportedWeightType, unsupported.Message, source, unsupported);
            }
            catch (InvalidDataException invalid)
            {
                throw new LlamaDistException(LlamaErrorKind.InvalidModelFile, invalid.Message, source, invalid);
            }
        });

        var counts = result.Tensors
            .GroupBy(t => GgmlTypeInfo.Name(t.TargetType))
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var fallbacks = result.Tensors
            .Where(t => t.IsFallback)
            .Select(t => new QuantizationFallback(t.Name, t.Source.Columns, t.Source.Rows, GgmlTypeInfo.Name(t.PlannedType!.Value),
                GgmlTypeInfo.BlockSize(t.PlannedType.Value), GgmlTypeInfo.Name(t.TargetType)))
            .ToArray();
        return new ModelConversionResult(result.SourcePath, result.DestinationPath, preset.ToString(), result.SourceBytes,
            result.DestinationBytes, result.Tensors.Count, result.Tensors.Count(t => t.Converts), counts,
            (long)result.Elapsed.TotalMilliseconds, fallbacks, result.Tensors.Count(t => t.PlannedType is not null));
    }
}
