using LlamaDist.Core.Conversion;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Tests.Conversion;

/// <summary>The streaming converter: bytes, metadata, order, cancellation and errors.</summary>
public sealed class ModelQuantizerTests(SmallModelFixture small) : IClassFixture<SmallModelFixture>
{
    private string Output(string name) => Path.Combine(small.Directory, $"{name}-{Guid.NewGuid():N}.gguf");

    [Fact]
    public void F32_to_Q8_0_equals_quantizing_every_row_directly_and_copies_metadata_and_order()
    {
        string destination = Output("q8");
        var progress = new List<double>();
        ModelQuantizationResult result = ModelQuantizer.Quantize(small.F32Path, destination, QuantizationPreset.Q8_0,
            overwrite: false, threads: 2, new SynchronousProgress(progress.Add), CancellationToken.None);

        using GgufFile source = GgufFile.Open(small.F32Path);
        using GgufFile converted = GgufFile.Open(destination);
        Assert.Equal(new FileInfo(destination).Length, result.DestinationBytes);
        Assert.Equal(source.FileSize, result.SourceBytes);
        Assert.Equal(7u, converted.GetValue<uint>("general.file_type"));
        Assert.Equal(2u, converted.GetValue<uint>("general.quantization_version"));
        Assert.Equal(source.Alignment, converted.Alignment);

        // Every source key in the same order with the same value; only file_type changes and quantization_version is added.
        var convertedKeys = converted.MetadataEntries.Select(e => e.Key).ToList();
        Assert.Equal(source.MetadataEntries.Select(e => e.Key).Append("general.quantization_version"), convertedKeys);
        foreach ((string key, object value) in source.MetadataEntries.Where(e => e.Key != "general.file_type"))
        {
            object copy = converted.Metadata[key];
            if (value is GgufArray array)
            {
                Assert.Equal(array.ElementType, ((GgufArray)copy).ElementType);
                Assert.Equal(array.Values.Cast<object>(), ((GgufArray)copy).Values.Cast<object>());
            }
            else
            {
                Assert.Equal(value, copy);
            }
        }

        Assert.Equal(source.Tensors.Select(t => t.Name), converted.Tensors.Select(t => t.Name));
        foreach (GgufTensorInfo original in source.Tensors)
        {
            GgufTensorInfo tensor = converted.GetTensor(original.Name);
            Assert.Equal(original.Dimensions, tensor.Dimensions);
            if (original.Dimensions.Length == 1)
            {
                Assert.Equal(GgmlType.F32, tensor.Type);
                Assert.True(source.GetTensorBytes(original).SequenceEqual(converted.GetTensorBytes(tensor)));
                continue;
            }
            Assert.Equal(GgmlType.Q8_0, tensor.Type);
            int columns = (int)original.Columns;
            int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q8_0, columns);
            byte[] expected = new byte[rowBytes];
            ReadOnlySpan<byte> sourceBytes = source.GetTensorBytes(original);
            ReadOnlySpan<byte> actual = converted.GetTensorBytes(tensor);
            // Check a spread of rows (all of them for the small matrices).
            long step = Math.Max(1, original.Rows / 64);
            for (long row = 0; row < original.Rows; row += step)
            {
                ReadOnlySpan<float> values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(
                    sourceBytes.Slice((int)(row * columns * 4), columns * 4));
                Quantizer.QuantizeRow(GgmlType.Q8_0, values, expected);
                Assert.True(actual.Slice((int)(row * rowBytes), rowBytes).SequenceEqual(expected), $"{original.Name} row {row}");
            }
        }

        Assert.Equal(1.0, progress[^1]);
        Assert.True(progress.Zip(progress.Skip(1)).All(p => p.First < p.Second), "progress increases");
        Assert.Equal(source.Tensors.Count(t => t.Dimensions.Length == 2), result.Tensors.Count(t => t.Converts));
    }

    [Fact]
    public void Quantized_source_is_requantized_through_float()
    {
        string q8 = Output("q8-src");
        string q4 = Output("q4-from-q8");
        ModelQuantizer.Quantize(small.F32Path, q8, QuantizationPreset.Q8_0, false, 2, null, CancellationToken.None);
        ModelQuantizer.Quantize(q8, q4, QuantizationPreset.Q4_0, false, 2, null, CancellationToken.None);

        using GgufFile source = GgufFile.Open(q8);
        using GgufFile converted = GgufFile.Open(q4);
        GgufTensorInfo original = source.GetTensor("blk.1.attn_q.weight");
        int columns = (int)original.Columns;
        float[] values = new float[columns];
        Quantizer.DequantizeRow(GgmlType.Q8_0, source.GetTensorBytes(original)[..(int)GgmlTypeInfo.RowBytes(GgmlType.Q8_0, columns)], values);
        byte[] expected = new byte[GgmlTypeInfo.RowBytes(GgmlType.Q4_0, columns)];
        Quantizer.QuantizeRow(GgmlType.Q4_0, values, expected);
        GgufTensorInfo tensor = converted.GetTensor("blk.1.attn_q.weight");
        Assert.Equal(GgmlType.Q4_0, tensor.Type);
        Assert.True(converted.GetTensorBytes(tensor)[..expected.Length].SequenceEqual(expected));
        Assert.Equal(GgmlType.Q6_K, converted.GetTensor("output.weight").Type);
        Assert.Equal(2u, converted.GetValue<uint>("general.file_type"));
    }

    [Fact]
    public void Cancellation_leaves_no_destination_and_no_temporary_file()
    {
        string destination = Output("cancelled");
        using var cancellation = new CancellationTokenSource();
        var progress = new SynchronousProgress(fraction =>
        {
            if (fraction > 0.2) cancellation.Cancel();
        });
        string[] before = Directory.GetFiles(small.Directory);
        Assert.ThrowsAny<OperationCanceledException>(() => ModelQuantizer.Quantize(small.F32Path, destination,
            QuantizationPreset.Q4_K_M, false, 2, progress, cancellation.Token));
        Assert.False(File.Exists(destination));
        Assert.Equal(before.Order(), Directory.GetFiles(small.Directory).Order());
    }

    [Fact]
    public void An_existing_destination_needs_overwrite_and_the_source_cannot_be_the_destination()
    {
        string destination = Output("exists");
        File.WriteAllText(destination, "keep me");
        Assert.Throws<IOException>(() => ModelQuantizer.Quantize(small.F32Path, destination, QuantizationPreset.F16,
            false, 1, null, CancellationToken.None));
        Assert.Equal("keep me", File.ReadAllText(destination));
        Assert.Throws<ArgumentException>(() => ModelQuantizer.Quantize(small.F32Path, small.F32Path, QuantizationPreset.F16,
            true, 1, null, CancellationToken.None));

        ModelQuantizer.Quantize(small.F32Path, destination, QuantizationPreset.BF16, true, 1, null, CancellationToken.None);
        using GgufFile converted = GgufFile.Open(destination);
        Assert.Equal(32u, converted.GetValue<uint>("general.file_type"));
        Assert.Equal(GgmlType.BF16, converted.GetTensor("output.weight").Type);
        Assert.Equal(GgmlType.F32, converted.GetTensor("output_norm.weight").Type);
    }

    /// <summary>Reports on the calling thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SynchronousProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}
