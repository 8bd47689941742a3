using LlamaDist.Core.Conversion;
using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Tests.Conversion;

/// <summary>Per-tensor types for each preset, as llama-quantize picks them (llama-quant.cpp).</summary>
public sealed class TensorTypeRulesTests(SmallModelFixture small) : IClassFixture<SmallModelFixture>
{
    /// <summary>
    /// The Small model: 4 layers (use_more_bits picks layers 2 and 3), GQA ratio 4, rows of 256 except ffn_down's
    /// 704 (not whole super-blocks: K types fall back). Per-layer lists are layers 0..3.
    /// </summary>
    [Theory]
    //          preset    token_embd output  attn_q  attn_v per layer           attn_output ffn_down per layer        ffn_up
    [InlineData("F32", "F32", "F32", "F32", "F32,F32,F32,F32", "F32", "F32,F32,F32,F32", "F32")]
    [InlineData("F16", "F16", "F16", "F16", "F16,F16,F16,F16", "F16", "F16,F16,F16,F16", "F16")]
    [InlineData("BF16", "BF16", "BF16", "BF16", "BF16,BF16,BF16,BF16", "BF16", "BF16,BF16,BF16,BF16", "BF16")]
    [InlineData("Q8_0", "Q8_0", "Q8_0", "Q8_0", "Q8_0,Q8_0,Q8_0,Q8_0", "Q8_0", "Q8_0,Q8_0,Q8_0,Q8_0", "Q8_0")]
    [InlineData("Q4_0", "Q4_0", "Q6_K", "Q4_0", "Q4_0,Q4_0,Q4_0,Q4_0", "Q4_0", "Q4_0,Q4_0,Q4_0,Q4_0", "Q4_0")]
    [InlineData("Q4_1", "Q4_1", "Q6_K", "Q4_1", "Q4_1,Q4_1,Q4_1,Q4_1", "Q4_1", "Q4_1,Q4_1,Q4_1,Q4_1", "Q4_1")]
    [InlineData("Q5_0", "Q5_0", "Q6_K", "Q5_0", "Q5_0,Q5_0,Q5_0,Q5_0", "Q5_0", "Q5_0,Q5_0,Q5_0,Q5_0", "Q5_0")]
    [InlineData("Q5_1", "Q5_1", "Q6_K", "Q5_1", "Q5_1,Q5_1,Q5_1,Q5_1", "Q5_1", "Q5_1,Q5_1,Q5_1,Q5_1", "Q5_1")]
    [InlineData("Q2_K", "Q2_K", "Q6_K", "Q2_K", "Q4_K,Q4_K,Q4_K,Q4_K", "Q3_K", "Q4_0,Q4_0,Q4_0,Q4_0", "Q2_K")]
    [InlineData("Q3_K_S", "Q3_K", "Q6_K", "Q3_K", "Q3_K,Q3_K,Q3_K,Q3_K", "Q3_K", "Q4_0,Q4_0,Q4_0,Q4_0", "Q3_K")]
    [InlineData("Q3_K_M", "Q3_K", "Q6_K", "Q3_K", "Q5_K,Q5_K,Q4_K,Q4_K", "Q4_K", "Q5_0,Q5_0,Q5_0,Q5_0", "Q3_K")]
    [InlineData("Q3_K_L", "Q3_K", "Q6_K", "Q3_K", "Q5_K,Q5_K,Q5_K,Q5_K", "Q5_K", "Q5_1,Q5_1,Q5_1,Q5_1", "Q3_K")]
    [InlineData("Q4_K_S", "Q4_K", "Q6_K", "Q4_K", "Q5_K,Q5_K,Q5_K,Q5_K", "Q4_K", "Q5_0,Q5_0,Q5_0,Q5_0", "Q4_K")]
    [InlineData("Q4_K_M", "Q4_K", "Q6_K", "Q4_K", "Q4_K,Q4_K,Q6_K,Q6_K", "Q4_K", "Q5_0,Q5_0,Q8_0,Q8_0", "Q4_K")]
    [InlineData("Q5_K_S", "Q5_K", "Q6_K", "Q5_K", "Q5_K,Q5_K,Q5_K,Q5_K", "Q5_K", "Q5_1,Q5_1,Q5_1,Q5_1", "Q5_K")]
    [InlineData("Q5_K_M", "Q5_K", "Q6_K", "Q5_K", "Q5_K,Q5_K,Q6_K,Q6_K", "Q5_K", "Q5_1,Q5_1,Q8_0,Q8_0", "Q5_K")]
    [InlineData("Q6_K", "Q6_K", "Q6_K", "Q6_K", "Q6_K,Q6_K,Q6_K,Q6_K", "Q6_K", "Q8_0,Q8_0,Q8_0,Q8_0", "Q6_K")]
    public void Small_model_types_follow_llama_quantize(string preset, string tokenEmbedding, string output, string attentionQ,
        string attentionV, string attentionOutput, string ffnDown, string ffnUp)
    {
        using GgufFile model = GgufFile.Open(small.F32Path);
        Dictionary<string, string> types = TensorTypeRules.Plan(model, QuantizationPresets.Parse(preset))
            .ToDictionary(t => t.Name, t => GgmlTypeInfo.Name(t.TargetType));

        Assert.Equal(tokenEmbedding, types["token_embd.weight"]);
        Assert.Equal(output, types["output.weight"]);
        Assert.Equal("F32", types["output_norm.weight"]);
        string[] v = attentionV.Split(','), down = ffnDown.Split(',');
        for (int layer = 0; layer < 4; layer++)
        {
            string block = $"blk.{layer}.";
            Assert.Equal(attentionQ, types[block + "attn_q.weight"]);
            Assert.Equal(attentionQ, types[block + "attn_k.weight"]);
            Assert.Equal(v[layer], types[block + "attn_v.weight"]);
            Assert.Equal(attentionOutput, types[block + "attn_output.weight"]);
            Assert.Equal(down[layer], types[block + "ffn_down.weight"]);
            Assert.Equal(ffnUp, types[block + "ffn_up.weight"]);
            Assert.Equal(ffnUp, types[block + "ffn_gate.weight"]);
            Assert.Equal("F32", types[block + "attn_norm.weight"]);
            Assert.Equal("F32", types[block + "ffn_norm.weight"]);
        }
    }

    [Fact]
    public void Use_more_bits_raises_the_first_and_last_eighth_and_every_third_layer_for_Q4_K_M()
    {
        const int layers = 32;
        var tensors = new List<GgufTensorInfo>();
        for (int layer = 0; layer < layers; layer++)
        {
            tensors.Add(Matrix($"blk.{layer}.attn_v.weight", 4096, 1024));
            tensors.Add(Matrix($"blk.{layer}.ffn_down.weight", 11008, 4096));
        }
        var facts = new ModelFacts("llama", layers, 32, 8, 0);
        var plan = TensorTypeRules.Plan(tensors, facts, QuantizationPreset.Q4_K_M);

        int[] raised = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31];
        for (int layer = 0; layer < layers; layer++)
        {
            GgmlType expected = raised.Contains(layer) ? GgmlType.Q6_K : GgmlType.Q4_K;
            Assert.Equal(expected, plan.Single(t => t.Name == $"blk.{layer}.attn_v.weight").TargetType);
            // 11008 is 43 super-blocks: no fallback
            Assert.Equal(expected, plan.Single(t => t.Name == $"blk.{layer}.ffn_down.weight").TargetType);
        }
    }

    [Fact]
    public void Counters_follow_layer_order_not_file_order()
    {
        var facts = new ModelFacts("llama", 4, 8, 8, 0);
        GgufTensorInfo[] tensors = [.. Enumerable.Range(0, 4).Reverse().Select(l => Matrix($"blk.{l}.attn_v.weight", 256, 256))];
        var plan = TensorTypeRules.Plan(tensors, facts, QuantizationPreset.Q3_K_M);
        Assert.Equal([GgmlType.Q4_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q5_K], plan.Select(t => t.TargetType));
    }

    [Fact]
    public void Tied_embeddings_get_the_output_type_and_Q2_K_without_GQA_uses_Q3_K_for_attn_v()
    {
        var facts = new ModelFacts("llama", 1, 8, 8, 0);
        GgufTensorInfo[] tensors = [Matrix("token_embd.weight", 256, 1000), Matrix("blk.0.attn_v.weight", 256, 256)];
        var plan = TensorTypeRules.Plan(tensors, facts, QuantizationPreset.Q2_K);
        Assert.Equal(GgmlType.Q6_K, plan[0].TargetType);
        Assert.Equal(GgmlType.Q3_K, plan[1].TargetType);
    }

    [Theory]
    [InlineData(GgmlType.Q2_K, 704, GgmlType.Q4_0)]
    [InlineData(GgmlType.Q3_K, 704, GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_K, 704, GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_K, 704, GgmlType.Q5_1)]
    [InlineData(GgmlType.Q6_K, 704, GgmlType.Q8_0)]
    [InlineData(GgmlType.Q6_K, 512, GgmlType.Q6_K)]
    [InlineData(GgmlType.Q4_K, 100, GgmlType.F16)]
    public void Fallback_table_matches_llama_cpp(GgmlType type, long columns, GgmlType expected) =>
        Assert.Equal(expected, TensorTypeRules.FallbackType(type, columns));

    [Fact]
    public void A_legacy_type_with_rows_that_are_not_whole_blocks_has_no_fallback() =>
        Assert.Throws<NotSupportedException>(() => TensorTypeRules.FallbackType(GgmlType.Q8_0, 100));

    [Fact]
    public void The_plan_records_the_planned_type_of_each_tensor_that_fell_back()
    {
        using GgufFile model = GgufFile.Open(small.F32Path);
        var plan = TensorTypeRules.Plan(model, QuantizationPreset.Q4_K_M);

        // Q4_K_M: ffn_down of layers 0-1 planned Q4_K, of layers 2-3 (use_more_bits) Q6_K; 704-wide rows fit neither.
        var fallbacks = plan.Where(t => t.IsFallback).ToDictionary(t => t.Name);
        Assert.Equal(["blk.0.ffn_down.weight", "blk.1.ffn_down.weight", "blk.2.ffn_down.weight", "blk.3.ffn_down.weight"],
            fallbacks.Keys.Order(StringComparer.Ordinal));
        Assert.Equal((GgmlType.Q4_K, GgmlType.Q5_0), (fallbacks["blk.0.ffn_down.weight"].PlannedType!.Value, fallbacks["blk.0.ffn_down.weight"].TargetType));
        Assert.Equal((GgmlType.Q6_K, GgmlType.Q8_0), (fallbacks["blk.3.ffn_down.weight"].PlannedType!.Value, fallbacks["blk.3.ffn_down.weight"].TargetType));
        Assert.Equal(GgmlType.Q4_K, plan.Single(t => t.Name == "blk.0.ffn_up.weight").PlannedType);
        Assert.Null(plan.Single(t => t.Name == "output_norm.weight").PlannedType); // never quantized
        Assert.DoesNotContain(TensorTypeRules.Plan(model, QuantizationPreset.F16), t => t.IsFallback);
    }

    [Fact]
    public void Presets_carry_llama_cpp_file_type_numbers_and_parse_aliases()
    {
        Assert.Equal(17, QuantizationPresets.Names.Count);
        Assert.Equal(15u, QuantizationPresets.FileType(QuantizationPresets.Parse("q4_k_m")));
        Assert.Equal(QuantizationPreset.Q4_K_M, QuantizationPresets.Parse("Q4_K"));
        Assert.Equal(32u, QuantizationPresets.FileType(QuantizationPreset.BF16));
        Assert.Throws<ArgumentException>(() => QuantizationPresets.Parse("IQ2_XS"));
    }

    private static GgufTensorInfo Matrix(string name, long columns, long rows) =>
        new(name, [columns, rows], GgmlType.F16, 0, 0, columns * rows, columns * rows * 2);
}
