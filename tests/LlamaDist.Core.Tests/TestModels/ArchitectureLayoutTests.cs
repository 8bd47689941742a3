using LlamaDist.Core.Gguf;
using LlamaDist.Core.TestModels;
using LlamaDist.Core.Tests.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.TestModels;

/// <summary>
/// The GGUF layout of each synthetic architecture, key by key and tensor by tensor, as llama.cpp's converter
/// writes it and llama.cpp's loader expects it (shapes from llama-model.cpp's load_tensors). Tiny shape:
/// embedding 64, FFN 192, 2 layers, 4 heads, 4 KV heads, context 512, so head width 16 (32 where the family
/// has wider heads).
/// </summary>
[Trait("Category", "Slow")]  // left out of build.ps1 -Task Test -Fast
public class ArchitectureLayoutTests : IDisposable
{
    private readonly TemporaryDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    private GgufFile Write(TestModelArchitecture architecture, GgmlType type = GgmlType.F32,
        TestModelPreset preset = TestModelPreset.Tiny)
    {
        string path = _directory.File($"{architecture}-{preset}-{type}.gguf");
        TestModelWriter.Write(path, preset, architecture, type, seed: 5, RealModel.Path, null, CancellationToken.None);
        return GgufFile.Open(path);
    }

    [Fact]
    public void Llama3_has_llama3_rope_factors_base_500000_and_tied_embeddings()
    {
        using GgufFile model = Write(TestModelArchitecture.Llama3);
        Assert.Equal("llama", model.GetValue<string>("general.architecture"));
        Assert.Equal(500000f, model.Metadata["llama.rope.freq_base"]);
        Assert.Equal(16u, model.Metadata["llama.rope.dimension_count"]);
        Assert.Equal(32000u, model.Metadata["llama.vocab_size"]);
        Assert.Null(model.FindTensor("output.weight"));
        AssertTensor(model, "token_embd.weight", GgmlType.F32, 64, 32000);
        AssertTensor(model, "rope_freqs.weight", GgmlType.F32, 8);
        // Head width 16, base 500000: the four fastest pairs keep their frequency, pair 4 (wavelength ~4.1k,
        // between 8192/4 and 8192) is interpolated, the slowest three get the full factor 8.
        float[] factors = Decode(model, "rope_freqs.weight");
        Assert.Equal([1f, 1f, 1f, 1f], factors[..4]);
        Assert.Equal(2.69453f, factors[4], 1e-4f);
        Assert.Equal([8f, 8f, 8f], factors[5..]);
    }

    [Fact]
    public void Llama3_rope_factors_match_the_converter_for_a_64_wide_head()
    {
        // Values of convert_hf_to_gguf.py's llama3 loop (float32) for head_dim 64, rope_theta 500000.
        float[] factors = Llama3RopeFactors.Compute(64, 500000f);
        Assert.Equal(32, factors.Length);
        Assert.All(factors[..15], factor => Assert.Equal(1f, factor));
        Assert.Equal(1.553415f, factors[15], 1e-4f);
        Assert.Equal(2.69453f, factors[16], 1e-4f);
        Assert.Equal(5.257326f, factors[17], 1e-4f);
        Assert.All(factors[18..], factor => Assert.Equal(8f, factor));
    }

    [Fact]
    public void Qwen2_has_qwen2_keys_and_f32_attention_biases()
    {
        using GgufFile model = Write(TestModelArchitecture.Qwen2, GgmlType.Q8_0);
        Assert.Equal("qwen2", model.GetValue<string>("general.architecture"));
        Assert.Equal(1000000f, model.Metadata["qwen2.rope.freq_base"]);
        Assert.Equal(1e-6f, model.Metadata["qwen2.attention.layer_norm_rms_epsilon"]);
        Assert.Equal(2u, model.Metadata["qwen2.block_count"]);
        Assert.Equal(64u, model.Metadata["qwen2.embedding_length"]);
        Assert.False(model.Metadata.ContainsKey("llama.block_count"));
        Assert.False(model.Metadata.ContainsKey("qwen2.rope.dimension_count"));
        AssertTensor(model, "output.weight", GgmlType.Q8_0, 64, 32000);
        foreach (string block in new[] { "blk.0.", "blk.1." })
        {
            AssertTensor(model, block + "attn_q.weight", GgmlType.Q8_0, 64, 64);
            AssertTensor(model, block + "attn_q.bias", GgmlType.F32, 64);
            AssertTensor(model, block + "attn_k.bias", GgmlType.F32, 64);
            AssertTensor(model, block + "attn_v.bias", GgmlType.F32, 64);
        }
        Assert.Equal(3 + 2 * 12, model.Tensors.Count);
        float[] bias = Decode(model, "blk.0.attn_k.bias");
        Assert.True(bias.Max() - bias.Min() > 0.5f, "biases should be spread, not constant");
    }

    [Fact]
    public void Qwen3_has_wide_heads_with_key_length_and_per_head_norms()
    {
        using GgufFile model = Write(TestModelArchitecture.Qwen3);
        Assert.Equal("qwen3", model.GetValue<string>("general.architecture"));
        Assert.Equal(32u, model.Metadata["qwen3.attention.key_length"]);
        Assert.Equal(32u, model.Metadata["qwen3.attention.value_length"]);
        Assert.Null(model.FindTensor("output.weight"));
        AssertTensor(model, "blk.0.attn_q.weight", GgmlType.F32, 64, 128);
        AssertTensor(model, "blk.0.attn_k.weight", GgmlType.F32, 64, 128);
        AssertTensor(model, "blk.0.attn_v.weight", GgmlType.F32, 64, 128);
        AssertTensor(model, "blk.0.attn_output.weight", GgmlType.F32, 128, 64);
        AssertTensor(model, "blk.1.attn_q_norm.weight", GgmlType.F32, 32);
        AssertTensor(model, "blk.1.attn_k_norm.weight", GgmlType.F32, 32);
        Assert.Null(model.FindTensor("blk.0.attn_q.bias"));
    }

    [Fact]
    public void Phi3_fuses_qkv_and_gate_up_and_states_its_window()
    {
        using GgufFile model = Write(TestModelArchitecture.Phi3, GgmlType.F16, TestModelPreset.Small);
        Assert.Equal("phi3", model.GetValue<string>("general.architecture"));
        Assert.Equal(32u, model.Metadata["phi3.rope.dimension_count"]);
        Assert.Equal(1024u, model.Metadata["phi3.rope.scaling.original_context_length"]);
        Assert.Equal(511u, model.Metadata["phi3.attention.sliding_window"]);
        // Small: embedding 256, 8 heads / 2 KV heads of 32, FFN 704.
        AssertTensor(model, "blk.0.attn_qkv.weight", GgmlType.F16, 256, 256 + 2 * 64);
        AssertTensor(model, "blk.0.ffn_up.weight", GgmlType.F16, 256, 2 * 704);
        AssertTensor(model, "blk.0.ffn_down.weight", GgmlType.F16, 704, 256);
        Assert.Null(model.FindTensor("blk.0.attn_q.weight"));
        Assert.Null(model.FindTensor("blk.0.ffn_gate.weight"));
        AssertTensor(model, "output.weight", GgmlType.F16, 256, 32000);
    }

    [Fact]
    public void Phi35_adds_long_rope_factors_and_their_attention_factor()
    {
        using GgufFile model = Write(TestModelArchitecture.Phi35);
        Assert.Equal("phi3", model.GetValue<string>("general.architecture"));
        Assert.Equal(256u, model.Metadata["phi3.rope.scaling.original_context_length"]);
        Assert.Equal(1024u, model.Metadata["phi3.attention.sliding_window"]);
        // sqrt(1 + ln(512 / 256) / ln(256))
        Assert.Equal(MathF.Sqrt(1 + MathF.Log(2) / MathF.Log(256)), (float)model.Metadata["phi3.rope.scaling.attn_factor"], 1e-6f);
        AssertTensor(model, "rope_factors_long.weight", GgmlType.F32, 8);
        AssertTensor(model, "rope_factors_short.weight", GgmlType.F32, 8);
        float[] longFactors = Decode(model, "rope_factors_long.weight");
        float[] shortFactors = Decode(model, "rope_factors_short.weight");
        Assert.Equal(1f, longFactors[0]);
        Assert.Equal(2f, longFactors[^1], 1e-5f);
        Assert.Equal(1f, shortFactors[0]);
        Assert.Equal(1.5f, shortFactors[^1], 1e-6f);
        Assert.True(longFactors.Zip(longFactors.Skip(1)).All(pair => pair.First < pair.Second), "long factors rise");
        AssertTensor(model, "blk.0.attn_qkv.weight", GgmlType.F32, 64, 192);
    }

    [Fact]
    public void Gemma2_has_post_norms_soft_caps_window_and_tied_embeddings()
    {
        using GgufFile model = Write(TestModelArchitecture.Gemma2, GgmlType.Q4_0);
        Assert.Equal("gemma2", model.GetValue<string>("general.architecture"));
        Assert.Equal(50f, model.Metadata["gemma2.attn_logit_softcapping"]);
        Assert.Equal(30f, model.Metadata["gemma2.final_logit_softcapping"]);
        Assert.Equal(64u, model.Metadata["gemma2.attention.sliding_window"]);
        Assert.Equal(32u, model.Metadata["gemma2.attention.key_length"]);
        Assert.False(model.Metadata.ContainsKey("gemma2.rope.freq_base")); // the converter writes none
        Assert.Null(model.FindTensor("output.weight"));
        AssertTensor(model, "blk.0.post_attention_norm.weight", GgmlType.F32, 64);
        AssertTensor(model, "blk.0.post_ffw_norm.weight", GgmlType.F32, 64);
        AssertTensor(model, "blk.0.attn_output.weight", GgmlType.Q4_0, 128, 64);
        AssertTensor(model, "blk.0.ffn_gate.weight", GgmlType.Q4_0, 64, 192);
    }

    [Fact]
    public void Mistral_is_llama_with_base_one_million()
    {
        using GgufFile model = Write(TestModelArchitecture.Mistral);
        Assert.Equal("llama", model.GetValue<string>("general.architecture"));
        Assert.Equal(1000000f, model.Metadata["llama.rope.freq_base"]);
        Assert.Equal(32000u, model.Metadata["llama.vocab_size"]);
        Assert.NotNull(model.FindTensor("output.weight"));
    }

    [Fact]
    public void Tied_k_quant_models_store_the_embedding_as_the_q6_k_head()
    {
        using GgufFile model = Write(TestModelArchitecture.Llama3, GgmlType.Q4_K, TestModelPreset.Small);
        AssertTensor(model, "token_embd.weight", GgmlType.Q6_K, 256, 32000);
        AssertTensor(model, "blk.0.attn_q.weight", GgmlType.Q4_K, 256, 256);
        AssertTensor(model, "blk.0.ffn_down.weight", GgmlType.Q8_0, 704, 256);
        AssertTensor(model, "rope_freqs.weight", GgmlType.F32, 16);
    }

    [Fact]
    public void Every_architecture_is_deterministic_and_the_default_stays_llama()
    {
        foreach (TestModelArchitecture architecture in Enum.GetValues<TestModelArchitecture>())
        {
            string first = _directory.File($"{architecture}-a.gguf");
            string second = _directory.File($"{architecture}-b.gguf");
            TestModelWriter.Write(first, TestModelPreset.Tiny, architecture, GgmlType.Q8_0, 9, RealModel.Path, null, CancellationToken.None);
            TestModelWriter.Write(second, TestModelPreset.Tiny, architecture, GgmlType.Q8_0, 9, RealModel.Path, null, CancellationToken.None);
            Assert.Equal(File.ReadAllBytes(first), File.ReadAllBytes(second));
        }
        string plain = _directory.File("plain.gguf");
        string llama = _directory.File("llama.gguf");
        TestModelWriter.Write(plain, TestModelPreset.Tiny, GgmlType.Q8_0, 9, RealModel.Path, null, CancellationToken.None);
        TestModelWriter.Write(llama, TestModelPreset.Tiny, TestModelArchitecture.Llama, GgmlType.Q8_0, 9, RealModel.Path, null, CancellationToken.None);
        Assert.Equal(File.ReadAllBytes(plain), File.ReadAllBytes(llama));
    }

    private static void AssertTensor(GgufFile model, string name, GgmlType type, params long[] dimensions)
    {
        GgufTensorInfo tensor = model.GetTensor(name);
        Assert.Equal(type, tensor.Type);
        Assert.Equal(dimensions, tensor.Dimensions);
    }

    private static float[] Decode(GgufFile model, string name)
    {
        GgufTensorInfo tensor = model.GetTensor(name);
        var values = new float[tensor.ElementCount];
        Quantizer.DequantizeRow(tensor.Type, model.GetTensorBytes(tensor), values);
        return values;
    }
}
