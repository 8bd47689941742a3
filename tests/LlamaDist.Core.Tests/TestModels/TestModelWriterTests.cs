using LlamaDist.Core.Gguf;
using LlamaDist.Core.TestModels;
using LlamaDist.Core.Tests.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.TestModels;

public class TestModelWriterTests : IDisposable
{
    private readonly TemporaryDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    public static TheoryData<GgmlType, uint> Types => new()
    {
        { GgmlType.F32, 0u }, { GgmlType.F16, 1u }, { GgmlType.Q8_0, 7u }, { GgmlType.Q4_0, 2u },
        { GgmlType.Q4_1, 3u }, { GgmlType.Q5_0, 8u }, { GgmlType.Q5_1, 9u },
    };

    [Theory]
    [MemberData(nameof(Types))]
    public void Tiny_model_has_llama_metadata_shapes_and_types(GgmlType type, uint fileType)
    {
        string path = _directory.File($"tiny-{type}.gguf");
        TestModelWriter.Write(path, TestModelPreset.Tiny, type, seed: 42, RealModel.Path, null, CancellationToken.None);

        using GgufFile model = GgufFile.Open(path);
        Assert.Equal(3u, model.Version);
        Assert.Equal("llama", model.GetValue<string>("general.architecture"));
        Assert.Equal(fileType, model.Metadata["general.file_type"]);
        Assert.Equal(512u, model.Metadata["llama.context_length"]);
        Assert.Equal(64u, model.Metadata["llama.embedding_length"]);
        Assert.Equal(2u, model.Metadata["llama.block_count"]);
        Assert.Equal(192u, model.Metadata["llama.feed_forward_length"]);
        Assert.Equal(4u, model.Metadata["llama.attention.head_count"]);
        Assert.Equal(4u, model.Metadata["llama.attention.head_count_kv"]);
        Assert.Equal(16u, model.Metadata["llama.rope.dimension_count"]);
        Assert.Equal(1e-5f, model.Metadata["llama.attention.layer_norm_rms_epsilon"]);
        Assert.Equal(10000f, model.Metadata["llama.rope.freq_base"]);

        Assert.Equal(3 + 2 * 9, model.Tensors.Count);
        AssertTensor(model, "token_embd.weight", type, 64, 32000);
        AssertTensor(model, "output.weight", type, 64, 32000);
        AssertTensor(model, "output_norm.weight", GgmlType.F32, 64);
        foreach (int layer in new[] { 0, 1 })
        {
            string block = $"blk.{layer}.";
            AssertTensor(model, block + "attn_norm.weight", GgmlType.F32, 64);
            AssertTensor(model, block + "ffn_norm.weight", GgmlType.F32, 64);
            AssertTensor(model, block + "attn_q.weight", type, 64, 64);
            AssertTensor(model, block + "attn_k.weight", type, 64, 64);
            AssertTensor(model, block + "attn_v.weight", type, 64, 64);
            AssertTensor(model, block + "attn_output.weight", type, 64, 64);
            AssertTensor(model, block + "ffn_gate.weight", type, 64, 192);
            AssertTensor(model, block + "ffn_up.weight", type, 64, 192);
            AssertTensor(model, block + "ffn_down.weight", type, 192, 64);
        }
    }

    [Fact]
    public void Tokenizer_metadata_is_copied_from_the_vocabulary_file()
    {
        string path = _directory.File("tiny.gguf");
        TestModelWriter.Write(path, TestModelPreset.Tiny, GgmlType.Q8_0, 1, RealModel.Path, null, CancellationToken.None);

        using GgufFile source = GgufFile.Open(RealModel.Path);
        using GgufFile model = GgufFile.Open(path);
        string[] expectedKeys = source.MetadataEntries.Select(e => e.Key).Where(k => k.StartsWith("tokenizer.")).ToArray();
        Assert.Equal(7, expectedKeys.Length);
        Assert.Equal(expectedKeys, model.MetadataEntries.Select(e => e.Key).Where(k => k.StartsWith("tokenizer.")));
        Assert.Equal(source.GetArray<string>("tokenizer.ggml.tokens"), model.GetArray<string>("tokenizer.ggml.tokens"));
        Assert.Equal(source.GetArray<float>("tokenizer.ggml.scores"), model.GetArray<float>("tokenizer.ggml.scores"));
        Assert.Equal(source.GetArray<int>("tokenizer.ggml.token_type"), model.GetArray<int>("tokenizer.ggml.token_type"));
        Assert.Equal("llama", model.GetValue<string>("tokenizer.ggml.model"));
        Assert.Equal(1u, model.Metadata["tokenizer.ggml.bos_token_id"]);
        Assert.Equal(2u, model.Metadata["tokenizer.ggml.eos_token_id"]);
        Assert.Equal(0u, model.Metadata["tokenizer.ggml.unknown_token_id"]);
    }

    [Fact]
    public void Weights_have_the_planned_scales()
    {
        string path = _directory.File("tiny-f32.gguf");
        TestModelWriter.Write(path, TestModelPreset.Tiny, GgmlType.F32, 7, RealModel.Path, null, CancellationToken.None);
        using GgufFile model = GgufFile.Open(path);

        (double mean, double std, double maxAbsDeviation) = Statistics(model, "blk.0.attn_q.weight");
        Assert.InRange(mean, -0.01, 0.01);
        Assert.InRange(std, 0.125 * 0.95, 0.125 * 1.05);                 // 1/sqrt(64)
        Assert.InRange(maxAbsDeviation, 0.125 * 2.5, 0.125 * 3.47);     // Irwin-Hall tails are bounded by 2 sqrt(3)

        Assert.InRange(Statistics(model, "blk.1.ffn_down.weight").Std, 0.0722 * 0.95, 0.0722 * 1.05); // 1/sqrt(192)
        Assert.InRange(Statistics(model, "token_embd.weight").Std, 0.99, 1.01);
        Assert.InRange(Statistics(model, "output.weight").Std, 0.375 * 0.99, 0.375 * 1.01); // 3/sqrt(64)

        (double normMean, double normStd, _) = Statistics(model, "output_norm.weight");
        Assert.InRange(normMean, 0.98, 1.02);
        Assert.InRange(normStd, 0.03, 0.07);
    }

    [Fact]
    public void Quantized_weights_decode_close_to_the_float_weights()
    {
        string f32Path = _directory.File("f32.gguf");
        string q8Path = _directory.File("q8.gguf");
        TestModelWriter.Write(f32Path, TestModelPreset.Tiny, GgmlType.F32, 3, RealModel.Path, null, CancellationToken.None);
        TestModelWriter.Write(q8Path, TestModelPreset.Tiny, GgmlType.Q8_0, 3, RealModel.Path, null, CancellationToken.None);
        using GgufFile f32 = GgufFile.Open(f32Path);
        using GgufFile q8 = GgufFile.Open(q8Path);

        float[] exact = DecodeAll(f32, "blk.1.ffn_gate.weight");
        float[] decoded = DecodeAll(q8, "blk.1.ffn_gate.weight");
        for (int i = 0; i < exact.Length; i++)
        {
            // Q8_0 step is amax/127 per 32 values; |w| <= 3.47/sqrt(64), so the error is at most ~0.0017.
            Assert.True(Math.Abs(exact[i] - decoded[i]) < 0.002, $"element {i}: {exact[i]} vs {decoded[i]}");
        }
        Assert.Equal(DecodeAll(f32, "output_norm.weight"), DecodeAll(q8, "output_norm.weight"));
    }

    [Fact]
    public void Same_seed_gives_identical_bytes_and_different_seed_different_weights()
    {
        string first = _directory.File("a.gguf");
        string second = _directory.File("b.gguf");
        string other = _directory.File("c.gguf");
        TestModelWriter.Write(first, TestModelPreset.Tiny, GgmlType.Q4_0, 1234, RealModel.Path, null, CancellationToken.None);
        TestModelWriter.Write(second, TestModelPreset.Tiny, GgmlType.Q4_0, 1234, RealModel.Path, null, CancellationToken.None);
        TestModelWriter.Write(other, TestModelPreset.Tiny, GgmlType.Q4_0, 1235, RealModel.Path, null, CancellationToken.None);

        Assert.True(File.ReadAllBytes(first).AsSpan().SequenceEqual(File.ReadAllBytes(second)));

        using GgufFile a = GgufFile.Open(first);
        using GgufFile c = GgufFile.Open(other);
        Assert.Equal(a.FileSize, c.FileSize);
        foreach (GgufTensorInfo tensor in a.Tensors)
        {
            Assert.False(a.GetTensorBytes(tensor).SequenceEqual(c.GetTensorBytes(c.GetTensor(tensor.Name))),
                $"{tensor.Name} did not change with the seed");
        }
        // Different tensors of one model get different streams too.
        Assert.False(a.GetTensorBytes(a.GetTensor("blk.0.attn_q.weight"))
            .SequenceEqual(a.GetTensorBytes(a.GetTensor("blk.0.attn_output.weight"))));
    }

    [Fact]
    public void Small_preset_uses_grouped_query_attention()
    {
        string path = _directory.File("small.gguf");
        TestModelWriter.Write(path, TestModelPreset.Small, GgmlType.Q8_0, 5, RealModel.Path, null, CancellationToken.None);
        using GgufFile model = GgufFile.Open(path);
        Assert.Equal(3 + 4 * 9, model.Tensors.Count);
        Assert.Equal(2u, model.Metadata["llama.attention.head_count_kv"]);
        Assert.Equal(32u, model.Metadata["llama.rope.dimension_count"]);
        AssertTensor(model, "blk.3.attn_k.weight", GgmlType.Q8_0, 256, 64);
        AssertTensor(model, "blk.3.attn_v.weight", GgmlType.Q8_0, 256, 64);
        AssertTensor(model, "blk.3.ffn_down.weight", GgmlType.Q8_0, 704, 256);
    }

    [Fact]
    public void Presets_have_the_documented_shapes()
    {
        TestModelShape tinyLlama = TestModelShape.For(TestModelPreset.TinyLlama);
        Assert.Equal((2048, 5632, 22, 32, 4, 2048), (tinyLlama.EmbeddingLength, tinyLlama.FeedForwardLength,
            tinyLlama.LayerCount, tinyLlama.HeadCount, tinyLlama.KvHeadCount, tinyLlama.ContextLength));
        Assert.Equal(64, tinyLlama.HeadDimension);
        Assert.Equal(256, tinyLlama.KvWidth);
        Assert.Equal(32000, tinyLlama.VocabularySize);
        Assert.Equal(16, TestModelShape.For(TestModelPreset.Tiny).HeadDimension);
        Assert.Equal(64, TestModelShape.For(TestModelPreset.Small).KvWidth);
        Assert.Throws<ArgumentException>(() => new TestModelShape(64, 192, 2, 4, 3, 100, 16));
        Assert.Throws<ArgumentException>(() => new TestModelShape(60, 192, 2, 4, 4, 100, 16));
    }

    [Fact]
    public void Progress_rises_to_one_and_cancellation_deletes_the_file()
    {
        var reports = new List<double>();
        string path = _directory.File("progress.gguf");
        TestModelWriter.Write(path, TestModelPreset.Tiny, GgmlType.F16, 9, RealModel.Path,
            new InlineProgress(reports.Add), CancellationToken.None);
        Assert.True(reports.Count >= 3);
        Assert.Equal(1.0, reports[^1]);
        Assert.Equal(reports.OrderBy(r => r), reports);

        string cancelled = _directory.File("cancelled.gguf");
        using var source = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => TestModelWriter.Write(cancelled, TestModelPreset.Tiny,
            GgmlType.F16, 9, RealModel.Path, new InlineProgress(p => { if (p > 0.3) source.Cancel(); }), source.Token));
        Assert.False(File.Exists(cancelled));
    }

    [Theory]
    [InlineData(GgmlType.IQ2_XXS)]
    [InlineData(GgmlType.IQ4_NL)]
    public void Unsupported_matrix_types_are_refused(GgmlType type)
    {
        string path = _directory.File("refused.gguf");
        Assert.Throws<ArgumentException>(() =>
            TestModelWriter.Write(path, TestModelPreset.Tiny, type, 1, RealModel.Path, null, CancellationToken.None));
        Assert.False(File.Exists(path));
    }

    private static void AssertTensor(GgufFile model, string name, GgmlType type, params long[] dimensions)
    {
        GgufTensorInfo tensor = model.GetTensor(name);
        Assert.Equal(type, tensor.Type);
        Assert.Equal(dimensions, tensor.Dimensions);
    }

    private static float[] DecodeAll(GgufFile model, string name)
    {
        GgufTensorInfo tensor = model.GetTensor(name);
        var values = new float[tensor.ElementCount];
        long rowBytes = GgmlTypeInfo.RowBytes(tensor.Type, tensor.Columns);
        ReadOnlySpan<byte> bytes = model.GetTensorBytes(tensor);
        for (int row = 0; row < tensor.Rows; row++)
        {
            Quantizer.DequantizeRow(tensor.Type, bytes.Slice((int)(row * rowBytes), (int)rowBytes),
                values.AsSpan((int)(row * tensor.Columns), (int)tensor.Columns));
        }
        return values;
    }

    private static (double Mean, double Std, double MaxAbsDeviation) Statistics(GgufFile model, string name)
    {
        float[] values = DecodeAll(model, name);
        double mean = values.Average(v => (double)v);
        double std = Math.Sqrt(values.Average(v => (v - mean) * (v - mean)));
        double maxAbsDeviation = values.Max(v => Math.Abs(v - mean));
        return (mean, std, maxAbsDeviation);
    }

    /// <summary>Calls back on the reporting thread (Progress&lt;T&gt; would post asynchronously).</summary>
    private sealed class InlineProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}
