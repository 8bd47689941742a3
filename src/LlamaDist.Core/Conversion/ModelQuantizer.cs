using System.Diagnostics;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Conversion;

/// <summary>What a conversion wrote.</summary>
/// <param name="Tensors">Every tensor with the type it was written in, in file order.</param>
public sealed record ModelQuantizationResult(string SourcePath, string DestinationPath, QuantizationPreset Preset,
    long SourceBytes, long DestinationBytes, IReadOnlyList<TensorConversion> Tensors, TimeSpan Elapsed);

/// <summary>
/// The engine's llama-quantize: reads a GGUF (memory-mapped) and writes a new one whose weight matrices are stored
/// in the types <see cref="TensorTypeRules"/> picks for a <see cref="QuantizationPreset"/>. All metadata is copied
/// in order, with general.file_type set to the preset's LLAMA_FTYPE and general.quantization_version to 2 (as
/// llama-quantize does); tensors keep their order, shapes and the source's alignment.
/// <para>
/// Streaming: tensors are converted in batches of rows (a few MB) that are written as soon as they are complete,
/// rows of a batch in parallel, so memory use does not grow with the model. Tensors that keep their type are
/// copied byte for byte.
/// </para>
/// <para>
/// Sources may be F32, F16, BF16 or any quantized type the engine decodes (<see cref="Quantizer.IsSupported"/>);
/// quantized sources are dequantized and quantized again, which — like llama-quantize --allow-requantize — adds
/// the new type's error on top of the old one: quantize from F32/F16/BF16 where possible.
/// </para>
/// <para>
/// The output goes to a temporary file beside the destination, moved into place at the end: a failure or a
/// cancellation leaves no destination file (and an existing one untouched).
/// </para>
/// </summary>
public static class ModelQuantizer
{
    /// <summary>The value llama.cpp writes to general.quantization_version (GGML_QNT_VERSION).</summary>
    public const uint QuantizationVersion = 2;

    // Output bytes per batch of rows: big enough to keep every thread busy, small enough to stay a few MB.
    private const long BatchBytes = 4 << 20;

    /// <summary>
    /// Converts <paramref name="sourcePath"/> to <paramref name="destinationPath"/>.
    /// </summary>
    /// <param name="overwrite">Replace an existing destination; without it an existing file is an <see cref="IOException"/>.</param>
    /// <param name="threads">Rows converted in parallel; 0 or less means every core.</param>
    /// <param name="progress">Fraction of source tensor bytes processed, increasing, at most once per percent,
    /// ending with 1.0; reported on the converting thread.</param>
    /// <param name="ct">Checked between row batches; cancellation deletes the partial output.</param>
    /// <exception cref="ArgumentException">The destination is the source.</exception>
    /// <exception cref="NotSupportedException">A tensor that must be converted has a type the engine cannot
    /// decode, or rows no target type fits.</exception>
    /// <exception cref="GgufFormatException">The source is not a valid GGUF file.</exception>
    public static ModelQuantizationResult Quantize(string sourcePath, string destinationPath, QuantizationPreset preset,
        bool overwrite, int threads, IProgress<double>? progress, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourcePath);
        ArgumentException.ThrowIfNullOrEmpty(destinationPath);
        _ = QuantizationPresets.BaseType(preset); // validates the preset
        string source = Path.GetFullPath(sourcePath);
        string destination = Path.GetFullPath(destinationPath);
        if (string.Equals(source, destination, OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal))
        {
            throw new ArgumentException("The destination must not be the source file.", nameof(destinationPath));
        }
        if (!overwrite && File.Exists(destination))
        {
            throw new IOException($"'{destination}' already exists.");
        }
        ct.ThrowIfCancellationRequested();
        var clock = Stopwatch.StartNew();
        int degree = threads > 0 ? threads : Environment.ProcessorCount;

        string temporary = Path.Combine(Path.GetDirectoryName(destination) ?? ".",
            $".{Path.GetFileName(destination)}.{Guid.NewGuid():N}.partial");
        IReadOnlyList<TensorConversion> plan;
        long sourceBytes;
        try
        {
            using (GgufFile model = GgufFile.Open(source))
            {
                sourceBytes = model.FileSize;
                plan = TensorTypeRules.Plan(model, preset);
                CheckSupported(plan);
                GgufWriter writer = CreateWriter(model, preset, plan);
                var tracker = new ProgressTracker(plan.Sum(t => t.Source.ByteSize), progress);
                foreach (TensorConversion tensor in plan)
                {
                    writer.AddTensor(tensor.Name, tensor.TargetType, tensor.Source.Dimensions,
                        stream => WriteTensor(model, tensor, stream, degree, tracker, ct));
                }
                writer.WriteTo(temporary); // deletes its partial file when a callback throws
                tracker.Complete();
            }
            ct.ThrowIfCancellationRequested();
            File.Move(temporary, destination, overwrite);
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
        return new ModelQuantizationResult(source, destination, preset, sourceBytes, new FileInfo(destination).Length,
            plan, clock.Elapsed);
    }

    private static void CheckSupported(IReadOnlyList<TensorConversion> plan)
    {
        foreach (TensorConversion tensor in plan.Where(t => t.Converts))
        {
            foreach (GgmlType type in new[] { tensor.Source.Type, tensor.TargetType })
            {
                if (!Quantizer.IsSupported(type))
                {
                    string name = GgmlTypeInfo.IsKnown(type) ? GgmlTypeInfo.Name(type) : $"id {(uint)type}";
                    throw new NotSupportedException(
                        $"Tensor '{tensor.Name}' would be converted from {GgmlTypeInfo.Name(tensor.Source.Type)} to " +
                        $"{GgmlTypeInfo.Name(tensor.TargetType)}, but type {name} is not supported; supported types " +
                        $"are {Quantizer.SupportedWeightTypeNames}.");
                }
            }
        }
    }

    private static GgufWriter CreateWriter(GgufFile model, QuantizationPreset preset, IReadOnlyList<TensorConversion> plan)
    {
        var writer = new GgufWriter(version: 3, alignment: model.Alignment);
        foreach (KeyValuePair<string, object> entry in model.MetadataEntries)
        {
            writer.SetMetadata(entry.Key, entry.Value); // values are only read, never mutated
        }
        writer.SetMetadata("general.quantization_version", QuantizationVersion);
        writer.SetMetadata("general.file_type", QuantizationPresets.FileType(preset));
        return writer;
    }

    private static unsafe void WriteTensor(GgufFile model, TensorConversion tensor, Stream stream, int degree,
        ProgressTracker tracker, CancellationToken ct)
    {
        GgufTensorInfo source = tensor.Source;
        byte* start = model.GetTensorPointer(source);
        if (!tensor.Converts)
        {
            CopyBytes(start, source.ByteSize, stream, tracker, ct);
            return;
        }

        int columns = checked((int)source.Columns);
        long rows = source.Rows;
        int sourceRowBytes = checked((int)GgmlTypeInfo.RowBytes(source.Type, columns));
        int targetRowBytes = checked((int)GgmlTypeInfo.RowBytes(tensor.TargetType, columns));
        int batchRows = (int)Math.Clamp(BatchBytes / Math.Max(targetRowBytes, sourceRowBytes), 1, rows);
        byte[] batch = new byte[(long)batchRows * targetRowBytes];
        var options = new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = degree };
        nint sourceAddress = (nint)start;
        GgmlType sourceType = source.Type;
        GgmlType targetType = tensor.TargetType;

        for (long firstRow = 0; firstRow < rows; firstRow += batchRows)
        {
            ct.ThrowIfCancellationRequested();
            int rowsInBatch = (int)Math.Min(batchRows, rows - firstRow);
            long batchStart = firstRow;
            Parallel.For(0, rowsInBatch, options, () => new float[columns], (index, _, values) =>
            {
                var row = new ReadOnlySpan<byte>((byte*)sourceAddress + (batchStart + index) * sourceRowBytes, sourceRowBytes);
                Quantizer.DequantizeRow(sourceType, row, values);
                Quantizer.QuantizeRow(targetType, values, batch.AsSpan(index * targetRowBytes, targetRowBytes));
                return values;
            }, _ => { });
            stream.Write(batch, 0, rowsInBatch * targetRowBytes);
            tracker.Add((long)rowsInBatch * sourceRowBytes);
        }
    }

    private static unsafe void CopyBytes(byte* start, long byteSize, Stream stream, ProgressTracker tracker,
        CancellationToken ct)
    {
        const int chunk = 4 << 20;
        for (long offset = 0; offset < byteSize; offset += chunk)
        {
            ct.ThrowIfCancellationRequested();
            int length = (int)Math.Min(chunk, byteSize - offset);
            stream.Write(new ReadOnlySpan<byte>(start + offset, length));
            tracker.Add(length);
        }
    }

    /// <summary>Reports processed source bytes over total, at most once per percent.</summary>
    private sealed class ProgressTracker(long totalBytes, IProgress<double>? progress)
    {
        private long _done;
        private int _lastPercent = -1;

        public void Add(long bytes)
        {
            _done += bytes;
            Report(totalBytes == 0 ? 1.0 : Math.Min(1.0, (double)_done / totalBytes));
        }

        public void Complete() => Report(1.0);

        private void Report(double fraction)
        {
            int percent = (int)(fraction * 100);
            if (progress is null || percent == _lastPercent)
            {
                return;
            }
            _lastPercent = percent;
            progress.Report(fraction);
        }
    }
}
