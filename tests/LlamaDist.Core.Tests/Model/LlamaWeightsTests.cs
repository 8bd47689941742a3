using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;

namespace LlamaDist.Core.Tests.Model;

public sealed class LlamaWeightsTests
{
    [Fact]
    public void Embedded_model_weights_are_views_of_the_file()
    {
        using GgufFile file = GgufFile.Open(ModelTestFiles.EmbeddedModel);
        LlamaConfig config = LlamaConfig.FromGguf(file);
        LlamaWeights weights = LlamaWeights.Load(file, config, LayerRange.All(1));

        Assert.False(weights.OutputIsTiedToEmbedding);
        Assert.Equal(GgmlType.F16, weights.TokenEmbedding.Type);
        Assert.Equal(32000, weights.TokenEmbedding.Rows);
        Assert.Equal(8, weights.TokenEmbedding.Columns);
        unsafe
        {
            Assert.True(weights.TokenEmbedding.Data == file.GetTensorPointer(file.GetTensor("token_embd.weight")));
        }
        LlamaLayerWeights layer = weights.GetLayer(0);
        Assert.Equal(8, layer.Query.Rows);
        Assert.Equal(32, layer.Gate.Rows);
        Assert.Equal(32, layer.Down.Columns);
        Assert.Equal(8, layer.Down.Rows);
        Assert.Equal(8, layer.AttentionNorm.Length);
        Assert.Equal(8, weights.OutputNorm.Length);
    }

    [Fact]
    public void Missing_output_head_is_tied_to_the_embedding()
    {
        using var directory = new TemporaryDirectory();
        var model = new SyntheticLlama(32, 2, 48, 4, 2, 20, seed: 1, tiedOutput: true);
        using GgufFile file = GgufFile.Open(model.Write(directory.File("m.gguf")));
        LlamaConfig config = LlamaConfig.FromGguf(file);

        LlamaWeights last = LlamaWeights.Load(file, config, new LayerRange(1, 2));
        Assert.True(last.OutputIsTiedToEmbedding);
        unsafe
        {
            Assert.True(last.Output.Data == file.GetTensorPointer(file.GetTensor("token_embd.weight")));
        }
        Assert.False(last.HasTokenEmbedding);
        Assert.Throws<InvalidOperationException>(() => last.TokenEmbedding);
        Assert.Throws<ArgumentOutOfRangeException>(() => last.GetLayer(0));
        Assert.Equal(1, last.GetLayer(1).Index);

        LlamaWeights first = LlamaWeights.Load(file, config, new LayerRange(0, 1));
        Assert.False(first.HasOutput);
        Assert.Throws<InvalidOperationException>(() => first.OutputNorm);
    }

    [Fact]
    public void Unsupported_weight_type_names_type_and_tensor()
    {
        var error = Assert.Throws<UnsupportedModelException>(() => Load(m =>
            m.Add("blk.0.attn_k.weight", GgmlType.F64, 32, 16, new float[32 * 16])));
        Assert.Equal("blk.0.attn_k.weight", error.TensorName);
        Assert.Equal(GgmlType.F64, error.TensorType);
        Assert.Contains("type F64", error.Message);
    }

    [Fact]
    public void Missing_tensor_is_named()
    {
        var error = Assert.Throws<UnsupportedModelException>(() => Load(m => m.Tensors.Remove("blk.1.ffn_up.weight")));
        Assert.Equal("blk.1.ffn_up.weight", error.TensorName);
        Assert.Contains("missing", error.Message);
    }

    [Fact]
    public void Wrongly_shaped_tensor_is_named_with_both_shapes()
    {
        // With 2 KV heads of 8, attn_v must be [32, 16]; a [32, 32] matrix belongs to a model without GQA.
        var error = Assert.Throws<UnsupportedModelException>(() => Load(m =>
            m.Add("blk.0.attn_v.weight", GgmlType.F32, 32, 32, new float[32 * 32])));
        Assert.Equal("blk.0.attn_v.weight", error.TensorName);
        Assert.Contains("[32, 32]", error.Message);
        Assert.Contains("[32, 16]", error.Message);
    }

    [Fact]
    public void Tensors_the_llama_block_would_ignore_are_refused()
    {
        var error = Assert.Throws<UnsupportedModelException>(() => Load(m =>
            m.Add("blk.1.attn_q.bias", GgmlType.F32, 32, 1, new float[32])));
        Assert.Equal("blk.1.attn_q.bias", error.TensorName);

        // A range that does not hold block 1 does not care about its tensors.
        Load(m => m.Add("blk.1.attn_q.bias", GgmlType.F32, 32, 1, new float[32]), new LayerRange(0, 1));
    }

    private static void Load(Action<SyntheticLlama> edit, LayerRange? range = null)
    {
        using var directory = new TemporaryDirectory();
        var model = new SyntheticLlama(32, 2, 48, 4, 2, 20, seed: 1);
        edit(model);
        using GgufFile file = GgufFile.Open(model.Write(directory.File("m.gguf")));
        LlamaConfig config = LlamaConfig.FromGguf(file);
        LlamaWeights.Load(file, config, range ?? LayerRange.All(config.LayerCount));
    }
}
