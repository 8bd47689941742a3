namespace LlamaDist.Engine.Conversion;

/// <summary>What <see cref="ModelConverter.Convert"/> wrote.</summary>
public sealed class ModelConversionResult
{
    internal ModelConversionResult(string sourcePath, string destinationPath, string type, long sourceBytes,
        long destinationBytes, int tensorCount, int convertedTensorCount, IReadOnlyDictionary<string, int> tensorCounts,
        long elapsedMilliseconds, IReadOnlyList<QuantizationFallback> fallbacks, int quantizedTensorCount)
    {
        Fallbacks = fallbacks;
        QuantizedTensorCount = quantizedTensorCount;
        SourcePath = sourcePath;
        DestinationPath = destinationPath;
        Type = type;
        SourceBytes = sourceBytes;
        DestinationBytes = destinationBytes;
        TensorCount = tensorCount;
        ConvertedTensorCount = convertedTensorCount;
        TensorCounts = tensorCounts;
        ElapsedMilliseconds = elapsedMilliseconds;
    }

    /// <summary>Absolute path of the model that was read.</summary>
    public string SourcePath { get; }

    /// <summary>Absolute path of the model that was written.</summary>
    public string DestinationPath { get; }

    /// <summary>The preset name, as listed in <see cref="ModelConverter.Types"/> ("Q4_K_M", ...).</summary>
    public string Type { get; }

    /// <summary>Size of the source file in bytes.</summary>
    public long SourceBytes { get; }

    /// <summary>Size of the written file in bytes.</summary>
    public long DestinationBytes { get; }

    /// <summary>Tensors in the file.</summary>
    public int TensorCount { get; }

    /// <summary>Tensors whose type changed (the rest were copied byte for byte).</summary>
    public int ConvertedTensorCount { get; }

    /// <summary>Tensors per storage type in the written file, by ggml type name ("F32" → 9, "Q4_K" → 20, ...).</summary>
    public IReadOnlyDictionary<string, int> TensorCounts { get; }

    /// <summary>
    /// Tensors written in a fallback type because their rows are not whole blocks of the planned type, in file
    /// order; empty when every tensor got its planned type (and always for F32/F16/BF16).
    /// </summary>
    public IReadOnlyList<QuantizationFallback> Fallbacks { get; }

    /// <summary>Tensors the preset quantizes (llama-quantize's "N of M tensor(s) required fallback quantization" M).</summary>
    public int QuantizedTensorCount { get; }

    /// <summary>Wall-clock time of the conversion.</summary>
    public long ElapsedMilliseconds { get; }

    /// <summary>Destination size over source size.</summary>
    public double SizeRatio => SourceBytes == 0 ? 0 : (double)DestinationBytes / SourceBytes;
}
