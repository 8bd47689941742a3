using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.TestModels;
using LlamaDist.Core.Tests.Gguf;
using Xunit;

namespace LlamaDist.Core.Tests.TestModels;

/// <summary>K-quant synthetic models: llama-quantize-like fallback for rows that are not whole super-blocks.</summary>
[Trait("Category", "Slow")]  // left out of build.ps1 -Task Test -Fast
public class KQuantTestModelTests : IDisposable
{
    private readonly TemporaryDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Theory]
    [InlineData(GgmlType.Q2_K, 10u, GgmlType.Q6_K)] // Q2_K: output head in Q6_K
    [InlineData(GgmlType.Q3_K, 12u, GgmlType.Q6_K)] // Q3_K_M: output head in Q6_K
    [InlineData(GgmlType.Q4_K, 15u, GgmlType.Q6_K)] // Q4_K_M: output head in Q6_K
    [InlineData(GgmlType.Q5_K, 17u, GgmlType.Q5_K)]
    [InlineData(GgmlType.Q6_K, 18u, GgmlType.Q6_K)]
    public void Small_model_falls_back_to_Q8_0_for_704_wide_ffn_down(GgmlType type, uint fileType, GgmlType outputType)
    {
        string path = _directory.File($"small-{type}.gguf");
        TestModelWriter.Write(path, TestModelPreset.Small, type, seed: 5, RealModel.Path, null, CancellationToken.None);

        using GgufFile model = GgufFile.Open(path);
        Assert.Equal(fileType, model.Metadata["general.file_type"]);
        Assert.Equal(type, model.GetTensor("token_embd.weight").Type);
        Assert.Equal(outputType, model.GetTensor("output.weight").Type);
        Assert.Equal(type, model.GetTensor("blk.0.attn_q.weight").Type);
        Assert.Equal(type, model.GetTensor("blk.0.ffn_up.weight").Type);
        Assert.Equal(704, model.GetTensor("blk.0.ffn_down.weight").Columns);
        Assert.Equal(GgmlType.Q8_0, model.GetTensor("blk.0.ffn_down.weight").Type);
        Assert.Equal("Q8_0", model.GetValue<string>("llamadist.synthetic.k_quant_fallback_type"));
        string[] fallbacks = model.GetArray<string>("llamadist.synthetic.k_quant_fallback_tensors");
        Assert.All(fallbacks, name => Assert.EndsWith("ffn_down.weight", name));
        Assert.Equal(model.GetValue<int>("llama.block_count"), fallbacks.Length);

        // The engine loads the mixed-type model.
        LlamaConfig config = LlamaConfig.FromGguf(model);
        LlamaWeights.Load(model, config, new LayerRange(0, config.LayerCount));
    }

    [Fact]
    public void Tiny_model_in_a_K_quant_is_all_Q8_0_because_no_row_is_a_whole_super_block()
    {
        string path = _directory.File("tiny-q4k.gguf");
        TestModelWriter.Write(path, TestModelPreset.Tiny, GgmlType.Q4_K, seed: 5, RealModel.Path, null, CancellationToken.None);
        using GgufFile model = GgufFile.Open(path);
        Assert.All(model.Tensors.Where(t => t.Dimensions.Length == 2), t => Assert.Equal(GgmlType.Q8_0, t.Type));
    }
}
