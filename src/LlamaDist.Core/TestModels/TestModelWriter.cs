using LlamaDist.Core.Conversion;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using LlamaDist.Core.Tokenization;

namespace LlamaDist.Core.TestModels;

/// <summary>
/// Writes synthetic GGUF models (llama, Llama 3, Qwen 2/3, Phi-3, Gemma 2, Mistral) with deterministic random weights, for tests and benchmarks that need a
/// model of a given size without downloading one. The tokenizer (tokenizer.* metadata) is copied from a real
/// GGUF so the model tokenizes like that file. Tensors are generated row by row in parallel and streamed into a
/// <see cref="GgufWriter"/>: memory use is a few MB of row buffers whatever the model size (TinyLlama F16 is
/// 2.2 GB on disk). The same arguments always produce the same bytes.
/// </summary>
public static class TestModelWriter
{
    private const string TokenizerPrefix = "tokenizer.";
    private const string TokensKey = "tokenizer.ggml.tokens";

    // Rows generated per batch: bounded by bytes so huge rows (TinyLlama FFN) and tiny rows both batch sensibly.
    private const long BatchBytes = 4 << 20;

    /// <summary>Writes a llama model of the <paramref name="preset"/> shape; see the full overload.</summary>
    public static void Write(string path, TestModelPreset preset, GgmlType type, int seed, string vocabularyGgufPath,
        IProgress<double>? progress, CancellationToken ct) =>
        Write(path, TestModelShape.For(preset), TestModelArchitecture.Llama, type, seed, vocabularyGgufPath, progress, ct);

    /// <summary>Writes an <paramref name="architecture"/> model of the <paramref name="preset"/> shape; see the full overload.</summary>
    public static void Write(string path, TestModelPreset preset, TestModelArchitecture architecture, GgmlType type,
        int seed, string vocabularyGgufPath, IProgress<double>? progress, CancellationToken ct) =>
        Write(path, TestModelShape.For(preset), architecture, type, seed, vocabularyGgufPath, progress, ct);

    /// <summary>Writes a llama model of <paramref name="shape"/>; see the full overload.</summary>
    public static void Write(string path, TestModelShape shape, GgmlType type, int seed, string vocabularyGgufPath,
        IProgress<double>? progress, CancellationToken ct) =>
        Write(path, shape, TestModelArchitecture.Llama, type, seed, vocabularyGgufPath, progress, ct);

    /// <summary>Writes an <paramref name="architecture"/> model whose vocabulary is copied from another GGUF's tokenizer.* metadata.</summary>
    /// <param name="vocabularyGgufPath">GGUF whose tokenizer.* metadata is copied; its token count replaces
    /// <see cref="TestModelShape.VocabularySize"/>.</param>
    public static void Write(string path, TestModelShape shape, TestModelArchitecture architecture, GgmlType type,
        int seed, string vocabularyGgufPath, IProgress<double>? progress, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(vocabularyGgufPath);
        Write(path, shape, architecture, type, seed, ReadTokenizerMetadata(vocabularyGgufPath), progress, ct);
    }

    /// <summary>Writes a llama model of <paramref name="shape"/> whose vocabulary is <paramref name="tokenizer"/>.</summary>
    public static void Write(string path, TestModelShape shape, GgmlType type, int seed, TokenizerMetadata tokenizer,
        IProgress<double>? progress, CancellationToken ct) =>
        Write(path, shape, TestModelArchitecture.Llama, type, seed, tokenizer, progress, ct);

    /// <summary>
    /// Writes a model of <paramref name="shape"/> laid out as llama.cpp's converter lays out
    /// <paramref name="architecture"/> (keys, tensor names and shapes; see <see cref="ArchitectureTraits"/>) to
    /// <paramref name="path"/>, whose vocabulary is <paramref name="tokenizer"/> (e.g. one imported from a
    /// tokenizer.json); its size replaces <see cref="TestModelShape.VocabularySize"/>.
    /// </summary>
    /// <param name="type">Storage type of every matrix: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K or Q6_K (norm weights stay
    /// F32; K-quant models store tensors with rows that are not multiples of 256 as Q8_0, see KQuantTensorTypes).</param>
    /// <param name="seed">Weight seed: same seed, same bytes; different seeds, different weights.</param>
    /// <param name="progress">Receives the fraction of tensor bytes written (increasing, at most once per percent,
    /// ending with 1.0), on the writing thread.</param>
    /// <param name="ct">Cancels between row batches; the partial file is deleted.</param>
    public static void Write(string path, TestModelShape shape, TestModelArchitecture architecture, GgmlType type, int seed,
        TokenizerMetadata tokenizer, IProgress<double>? progress, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArchitectureTraits traits = ArchitectureTraits.For(architecture);
        uint fileType = LlamaFileType(type);
        ct.ThrowIfCancellationRequested();

        TestModelShape fullShape = shape.WithVocabulary(tokenizer.VocabularySize);
        List<SyntheticTensor> tensors = TestModelTensorPlan.Build(fullShape, type, traits);
        foreach (SyntheticTensor tensor in tensors)
        {
            if (tensor.Columns % GgmlTypeInfo.BlockSize(tensor.Type) != 0)
            {
                throw new ArgumentException(
                    $"Tensor {tensor.Name} rows of {tensor.Columns} are not whole {GgmlTypeInfo.Name(tensor.Type)} " +
                    $"blocks of {GgmlTypeInfo.BlockSize(tensor.Type)}.", nameof(shape));
            }
        }

        var writer = new GgufWriter();
        SetModelMetadata(writer, fullShape, traits, fileType, seed);
        string[] fallbacks = tensors.Where(t => t.Type == KQuantTensorTypes.FallbackType && t.Type != type)
            .Select(t => t.Name).ToArray();
        if (fallbacks.Length > 0)
        {
            // Like llama-quantize, tensors whose rows are not whole 256-element K-quant super-blocks are stored
            // in a 32-block type; record which ones so a reader of the file can tell.
            writer.SetMetadata("llamadist.synthetic.k_quant_fallback_type", GgmlTypeInfo.Name(KQuantTensorTypes.FallbackType));
            writer.SetMetadata("llamadist.synthetic.k_quant_fallback_tensors", fallbacks);
        }
        foreach (KeyValuePair<string, object> entry in tokenizer.Entries)
        {
            writer.SetMetadata(entry.Key, entry.Value);
        }

        var tracker = new ProgressTracker(tensors.Sum(t => t.ByteSize), progress);
        foreach (SyntheticTensor tensor in tensors)
        {
            writer.AddTensor(tensor.Name, tensor.Type, tensor.Dimensions,
                stream => WriteTensor(stream, tensor, seed, tracker, ct));
        }
        writer.WriteTo(path); // the tracker has reported 1.0 once the last tensor byte was written
    }

    /// <summary>
    /// llama.cpp's LLAMA_FTYPE for a model whose matrices are all <paramref name="type"/>: the preset of that base
    /// type (the _M mix for Q3_K, Q4_K and Q5_K; the output head is Q6_K for Q2_K, Q3_K and Q4_K, see KQuantTensorTypes).
    /// </summary>
    private static uint LlamaFileType(GgmlType type) => QuantizationPresets.FileType(type switch
    {
        GgmlType.F32 => QuantizationPreset.F32,
        GgmlType.F16 => QuantizationPreset.F16,
        GgmlType.BF16 => QuantizationPreset.BF16,
        GgmlType.Q4_0 => QuantizationPreset.Q4_0,
        GgmlType.Q4_1 => QuantizationPreset.Q4_1,
        GgmlType.Q5_0 => QuantizationPreset.Q5_0,
        GgmlType.Q5_1 => QuantizationPreset.Q5_1,
        GgmlType.Q8_0 => QuantizationPreset.Q8_0,
        GgmlType.Q2_K => QuantizationPreset.Q2_K,
        GgmlType.Q3_K => QuantizationPreset.Q3_K_M,
        GgmlType.Q4_K => QuantizationPreset.Q4_K_M,
        GgmlType.Q5_K => QuantizationPreset.Q5_K_M,
        GgmlType.Q6_K => QuantizationPreset.Q6_K,
        _ => throw new ArgumentException(
            $"Test models can be written as F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K or Q6_K, not {(GgmlTypeInfo.IsKnown(type) ? GgmlTypeInfo.Name(type) : type.ToString())}.",
            nameof(type)),
    });

    /// <summary>
    /// Writes a vocabulary-only GGUF: the llama hyper-parameters of <paramref name="shape"/> (which llama.cpp reads
    /// even when it loads only the vocabulary) and the tokenizer, no tensors.
    /// </summary>
    public static void WriteVocabularyOnly(string path, TestModelShape shape, TokenizerMetadata tokenizer)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(tokenizer);
        var writer = new GgufWriter();
        SetModelMetadata(writer, shape.WithVocabulary(tokenizer.VocabularySize), ArchitectureTraits.For(TestModelArchitecture.Llama),
            LlamaFileType(GgmlType.F32), seed: 0);
        foreach (KeyValuePair<string, object> entry in tokenizer.Entries)
        {
            writer.SetMetadata(entry.Key, entry.Value);
        }

        writer.WriteTo(path);
    }

    private static TokenizerMetadata ReadTokenizerMetadata(string vocabularyGgufPath)
    {
        using GgufFile vocabulary = GgufFile.Open(vocabularyGgufPath);
        int vocabularySize = vocabulary.GetArray<string>(TokensKey).Length;
        if (vocabularySize == 0)
        {
            throw new GgufFormatException(vocabulary.FilePath, -1, $"'{TokensKey}' is empty.");
        }
        // The writer only reads these values (it never mutates a GgufArray), so they can be passed on as they are.
        var entries = vocabulary.MetadataEntries.Where(e => e.Key.StartsWith(TokenizerPrefix, StringComparison.Ordinal)).ToList();
        return new TokenizerMetadata(entries, vocabularySize,
            vocabulary.GetValueOrDefault<string?>(TokenizerFactory.PreTokenizerKey, null) ?? "");
    }

    private static void SetModelMetadata(GgufWriter writer, TestModelShape shape, ArchitectureTraits traits,
        uint fileType, int seed)
    {
        string prefix = traits.GgufName + ".";
        writer.SetMetadata("general.architecture", traits.GgufName);
        writer.SetMetadata("general.name", traits.DisplayName);
        writer.SetMetadata("general.file_type", fileType);
        writer.SetMetadata("llamadist.synthetic.seed", seed);
        writer.SetMetadata(prefix + "context_length", (uint)shape.ContextLength);
        writer.SetMetadata(prefix + "embedding_length", (uint)shape.EmbeddingLength);
        writer.SetMetadata(prefix + "block_count", (uint)shape.LayerCount);
        writer.SetMetadata(prefix + "feed_forward_length", (uint)shape.FeedForwardLength);
        writer.SetMetadata(prefix + "attention.head_count", (uint)shape.HeadCount);
        writer.SetMetadata(prefix + "attention.head_count_kv", (uint)shape.KvHeadCount);
        writer.SetMetadata(prefix + "attention.layer_norm_rms_epsilon", traits.RmsEpsilon);
        if (traits.RopeFreqBase is float ropeFreqBase)
        {
            writer.SetMetadata(prefix + "rope.freq_base", ropeFreqBase);
        }
        if (traits.WritesRopeDimensionCount)
        {
            writer.SetMetadata(prefix + "rope.dimension_count", (uint)traits.HeadWidth(shape));
        }
        if (traits.WritesKeyLength)
        {
            writer.SetMetadata(prefix + "attention.key_length", (uint)traits.HeadWidth(shape));
            writer.SetMetadata(prefix + "attention.value_length", (uint)traits.HeadWidth(shape));
        }
        if (traits.WritesVocabularySize)
        {
            writer.SetMetadata(prefix + "vocab_size", (uint)shape.VocabularySize);
        }
        if (traits.OriginalContextLength is { } originalContextLength)
        {
            writer.SetMetadata(prefix + "rope.scaling.original_context_length", (uint)originalContextLength(shape));
        }
        if (traits.LongRope)
        {
            writer.SetMetadata(prefix + "rope.scaling.attn_factor",
                LongRopeFactors.AttentionFactor(shape.ContextLength, traits.OriginalContextLength!(shape)));
        }
        if (traits.SlidingWindow is { } slidingWindow)
        {
            writer.SetMetadata(prefix + "attention.sliding_window", (uint)slidingWindow(shape));
        }
        if (traits.AttentionLogitSoftcap is float attentionSoftcap)
        {
            writer.SetMetadata(prefix + "attn_logit_softcapping", attentionSoftcap);
        }
        if (traits.FinalLogitSoftcap is float finalSoftcap)
        {
            writer.SetMetadata(prefix + "final_logit_softcapping", finalSoftcap);
        }
    }

    /// <summary>
    /// Generates and encodes the tensor in batches of rows (rows of a batch in parallel), writing each batch as
    /// soon as it is complete. Row values depend only on (seed, name, row), so the output is thread-count independent.
    /// </summary>
    private static void WriteTensor(Stream stream, SyntheticTensor tensor, int seed, ProgressTracker tracker,
        CancellationToken ct)
    {
        int columns = tensor.Columns;
        int rowBytes = checked((int)GgmlTypeInfo.RowBytes(tensor.Type, columns));
        int batchRows = (int)Math.Clamp(BatchBytes / rowBytes, 1, tensor.Rows);
        byte[] batch = new byte[(long)batchRows * rowBytes];
        ulong key = SyntheticWeights.TensorKey(tensor.Name);
        var options = new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = Environment.ProcessorCount };

        if (tensor.Values is { } values)
        {
            // A computed tensor (one row, e.g. rope_freqs.weight): written as given.
            Quantizer.QuantizeRow(tensor.Type, values, batch.AsSpan(0, rowBytes));
            stream.Write(batch, 0, rowBytes);
            tracker.Add(rowBytes);
            return;
        }
        for (long firstRow = 0; firstRow < tensor.Rows; firstRow += batchRows)
        {
            ct.ThrowIfCancellationRequested();
            int rowsInBatch = (int)Math.Min(batchRows, tensor.Rows - firstRow);
            long batchStart = firstRow;
            Parallel.For(0, rowsInBatch, options, () => new float[columns], (index, _, values) =>
            {
                SyntheticWeights.FillRow(values, seed, key, batchStart + index, tensor.Mean, tensor.Std);
                Quantizer.QuantizeRow(tensor.Type, values, batch.AsSpan(index * rowBytes, rowBytes));
                return values;
            }, _ => { });
            stream.Write(batch, 0, rowsInBatch * rowBytes);
            tracker.Add((long)rowsInBatch * rowBytes);
        }
    }

    /// <summary>Reports bytes written over total bytes, at most once per percent.</summary>
    private sealed class ProgressTracker(long totalBytes, IProgress<double>? progress)
    {
        private long _written;
        private int _lastPercent = -1;

        public void Add(long bytes)
        {
            _written += bytes;
            if (progress is null)
            {
                return;
            }
            double fraction = totalBytes == 0 ? 1.0 : (double)_written / totalBytes;
            int percent = (int)(fraction * 100);
            if (percent != _lastPercent)
            {
                _lastPercent = percent;
                progress.Report(Math.Min(fraction, 1.0));
            }
        }
    }
}
