using Xunit;
using System.Buffers.Binary;
using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Tests.Gguf;

/// <summary>Reads the embedded tiny llama model; every expected value was checked with an independent parser.</summary>
public class GgufFileRealModelTests
{
    [Fact]
    public void Header_fields_match_the_file()
    {
        using GgufFile file = GgufFile.Open(RealModel.Path);
        Assert.Equal(3u, file.Version);
        Assert.Equal(32, file.Alignment);
        Assert.Equal(RealModel.DataOffset, file.DataOffset);
        Assert.Equal(RealModel.FileSize, file.FileSize);
        Assert.Equal(Path.GetFullPath(RealModel.Path), file.FilePath);
        Assert.Equal(18, file.MetadataEntries.Count);
        Assert.Equal(12, file.Tensors.Count);
    }

    [Fact]
    public void Metadata_keeps_file_order_and_types()
    {
        using GgufFile file = GgufFile.Open(RealModel.Path);
        Assert.Equal("general.architecture", file.MetadataEntries[0].Key);
        Assert.Equal("tokenizer.ggml.unknown_token_id", file.MetadataEntries[17].Key);
        Assert.Equal("llama", file.GetValue<string>("general.architecture"));
        Assert.Equal("LLaMA v2", file.GetValue<string>("general.name"));
        Assert.Equal(4096u, file.Metadata["llama.context_length"]);
        Assert.Equal(8, file.GetValue<int>("llama.embedding_length"));
        Assert.Equal(1L, file.GetValue<long>("llama.block_count"));
        Assert.Equal(32, file.GetValue<int>("llama.feed_forward_length"));
        Assert.Equal(2, file.GetValue<int>("llama.attention.head_count_kv"));
        Assert.Equal(1e-5f, file.GetValue<float>("llama.attention.layer_norm_rms_epsilon"));
        Assert.Equal(1, file.GetValue<int>("general.file_type"));
        Assert.Equal(1, file.GetValue<int>("tokenizer.ggml.bos_token_id"));
        Assert.Equal(2, file.GetValue<int>("tokenizer.ggml.eos_token_id"));
        Assert.Equal("llama", file.GetValue<string>("tokenizer.ggml.model"));
    }

    [Fact]
    public void Vocabulary_arrays_are_read_exactly()
    {
        using GgufFile file = GgufFile.Open(RealModel.Path);
        string[] tokens = file.GetArray<string>("tokenizer.ggml.tokens");
        Assert.Equal(32000, tokens.Length);
        Assert.Equal(["<unk>", "<s>", "</s>", "<0x00>"], tokens[..4]);
        Assert.Equal("ied", tokens[1000]);
        Assert.Equal("给", tokens[31999]);
        Assert.Equal("\u2581", tokens[29871]);

        float[] scores = file.GetArray<float>("tokenizer.ggml.scores");
        Assert.Equal(-741.0f, scores[1000]);
        Assert.Equal(-31740.0f, scores[31999]);
        Assert.Equal(-1e9f, scores[259]);

        var tokenTypes = Assert.IsType<GgufArray>(file.Metadata["tokenizer.ggml.token_type"]);
        Assert.Equal(GgufValueType.Int32, tokenTypes.ElementType);
        Assert.Equal(32000, tokenTypes.Count);
        Assert.Equal([2, 3, 3, 6], file.GetArray<int>("tokenizer.ggml.token_type")[..4]);
        Assert.Equal([2L, 3L], file.GetArray<long>("tokenizer.ggml.token_type")[..2]);
    }

    [Fact]
    public void Tensor_infos_have_shapes_types_and_offsets()
    {
        using GgufFile file = GgufFile.Open(RealModel.Path);
        GgufTensorInfo embedding = file.GetTensor("token_embd.weight");
        Assert.Same(embedding, file.Tensors[0]);
        Assert.Equal([8L, 32000L], embedding.Dimensions);
        Assert.Equal(GgmlType.F16, embedding.Type);
        Assert.Equal(8, embedding.Columns);
        Assert.Equal(32000, embedding.Rows);
        Assert.Equal(256000, embedding.ElementCount);
        Assert.Equal(512000, embedding.ByteSize);
        Assert.Equal(0, embedding.RelativeOffset);
        Assert.Equal(RealModel.DataOffset, embedding.AbsoluteOffset);

        GgufTensorInfo down = file.GetTensor("blk.0.ffn_down.weight");
        Assert.Equal([32L, 8L], down.Dimensions);
        Assert.Equal(513536, down.RelativeOffset);

        GgufTensorInfo norm = file.GetTensor("output_norm.weight");
        Assert.Equal([8L], norm.Dimensions);
        Assert.Equal(GgmlType.F32, norm.Type);
        Assert.Equal(1, norm.Rows);
        Assert.Equal(32, norm.ByteSize);

        Assert.Null(file.FindTensor("blk.1.attn_q.weight"));
        var missing = Assert.Throws<GgufFormatException>(() => file.GetTensor("blk.1.attn_q.weight"));
        Assert.Contains("blk.1.attn_q.weight", missing.Message);
    }

    [Fact]
    public unsafe void Tensor_bytes_point_into_the_mapping()
    {
        using GgufFile file = GgufFile.Open(RealModel.Path);
        ReadOnlySpan<byte> norm = file.GetTensorBytes(file.GetTensor("output_norm.weight"));
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(1.0f, BinaryPrimitives.ReadSingleLittleEndian(norm.Slice(i * 4, 4)));
        }

        GgufTensorInfo output = file.GetTensor("output.weight");
        ReadOnlySpan<byte> lastRow = file.GetTensorBytes(output).Slice(31999 * 16, 16);
        Assert.Equal((Half)0.004413604736328125, BinaryPrimitives.ReadHalfLittleEndian(lastRow));
        Assert.Equal((Half)(-0.0116729736328125), BinaryPrimitives.ReadHalfLittleEndian(lastRow[6..]));

        ReadOnlySpan<byte> embedding = file.GetTensorBytes(file.Tensors[0]);
        Assert.Equal((Half)0.034088134765625, BinaryPrimitives.ReadHalfLittleEndian(embedding[16..]));

        byte[] onDisk = File.ReadAllBytes(RealModel.Path);
        GgufTensorInfo query = file.GetTensor("blk.0.attn_q.weight");
        Assert.True(onDisk.AsSpan((int)query.AbsoluteOffset, (int)query.ByteSize).SequenceEqual(file.GetTensorBytes(query)));
        Assert.True(file.GetTensorPointer(query) == file.GetTensorPointer(file.Tensors[0]) + query.RelativeOffset);
    }

    [Fact]
    public void Value_conversions_check_types_and_ranges()
    {
        using GgufFile file = GgufFile.Open(RealModel.Path);
        Assert.Equal(4096.0, file.GetValue<double>("llama.context_length"));
        Assert.Equal((ushort)4096, file.GetValue<ushort>("llama.context_length"));
        Assert.Throws<GgufFormatException>(() => file.GetValue<byte>("llama.context_length"));
        Assert.Throws<GgufFormatException>(() => file.GetValue<int>("general.architecture"));
        Assert.Throws<GgufFormatException>(() => file.GetValue<string>("tokenizer.ggml.tokens"));
        Assert.Throws<GgufFormatException>(() => file.GetArray<string>("general.name"));
        Assert.Throws<GgufFormatException>(() => file.GetArray<int>("tokenizer.ggml.tokens"));
        var missing = Assert.Throws<GgufFormatException>(() => file.GetValue<int>("llama.rope.freq_base"));
        Assert.Contains("llama.rope.freq_base", missing.Message);
        Assert.Contains(file.FilePath, missing.Message);

        Assert.True(file.TryGetValue("llama.attention.head_count", out uint heads));
        Assert.Equal(2u, heads);
        Assert.False(file.TryGetValue("general.name", out int _));
        Assert.False(file.TryGetValue("no.such.key", out string _));
        Assert.Equal(10000f, file.GetValueOrDefault("llama.rope.freq_base", 10000f));
        Assert.Equal(4, file.GetValueOrDefault("llama.rope.dimension_count", 99));
        Assert.Throws<GgufFormatException>(() => file.GetValueOrDefault("general.name", 0));
    }

    [Fact]
    public void Returned_arrays_are_copies()
    {
        using GgufFile file = GgufFile.Open(RealModel.Path);
        string[] tokens = file.GetArray<string>("tokenizer.ggml.tokens");
        tokens[0] = "changed";
        Assert.Equal("<unk>", file.GetArray<string>("tokenizer.ggml.tokens")[0]);
    }

    [Fact]
    public void Tensor_access_after_dispose_or_from_another_file_is_refused()
    {
        GgufFile first = GgufFile.Open(RealModel.Path);
        using GgufFile second = GgufFile.Open(RealModel.Path);
        GgufTensorInfo foreign = first.Tensors[0];
        Assert.Throws<ArgumentException>(() => second.GetTensorBytes(foreign).Length);
        first.Dispose();
        first.Dispose();
        Assert.Throws<ObjectDisposedException>(() => first.GetTensorBytes(foreign).Length);
    }
}
