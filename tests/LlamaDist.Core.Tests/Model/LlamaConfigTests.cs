using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;

namespace LlamaDist.Core.Tests.Model;

public sealed class LlamaConfigTests
{
    [Fact]
    public void Embedded_model_configuration_is_read_from_its_metadata()
    {
        using GgufFile file = GgufFile.Open(ModelTestFiles.EmbeddedModel);
        LlamaConfig config = LlamaConfig.FromGguf(file);

        Assert.Equal("llama", config.Architecture);
        Assert.Equal(8, config.EmbeddingLength);
        Assert.Equal(1, config.LayerCount);
        Assert.Equal(32, config.FeedForwardLength);
        Assert.Equal(2, config.HeadCount);
        Assert.Equal(2, config.KvHeadCount);
        Assert.Equal(4, config.HeadDimension);
        Assert.Equal(1e-5f, config.RmsEpsilon);
        Assert.Equal(10000f, config.RopeFreqBase);   // llama.rope.freq_base is absent: llama.cpp's default
        Assert.Equal(4, config.RopeDimensionCount);
        Assert.Equal(4096, config.ContextLength);
        Assert.Equal(32000, config.VocabularySize);  // rows of token_embd.weight
        Assert.Equal(8, config.QueryWidth);
        Assert.Equal(8, config.KvWidth);
        Assert.Equal(1, config.HeadsPerKvHead);
    }

    [Fact]
    public void Optional_keys_take_llama_cpp_defaults()
    {
        using var directory = new TemporaryDirectory();
        var model = new SyntheticLlama(32, 1, 48, 4, 4, 20, seed: 1, ropeBase: 500000f);
        model.Metadata.Remove("llama.attention.head_count_kv");
        model.Metadata.Remove("llama.rope.dimension_count");
        using GgufFile file = GgufFile.Open(model.Write(directory.File("m.gguf")));

        LlamaConfig config = LlamaConfig.FromGguf(file);
        Assert.Equal(4, config.KvHeadCount);
        Assert.Equal(8, config.RopeDimensionCount);
        Assert.Equal(500000f, config.RopeFreqBase);
        Assert.Equal(20, config.VocabularySize);
    }

    [Fact]
    public void Another_architecture_is_refused_by_name()
    {
        var error = Assert.Throws<UnsupportedModelException>(() => Load(m => m.Metadata["general.architecture"] = "gpt2"));
        Assert.Equal("gpt2", error.Architecture);
        Assert.Contains("'gpt2'", error.Message);
        Assert.DoesNotContain("type", error.Message); // the engine maps messages naming a type to 'unsupported weight type'
    }

    [Theory]
    [InlineData("llama.attention.head_count", 5u, "not divisible by the head count 5")]
    [InlineData("llama.attention.head_count_kv", 3u, "Head count 4 is not divisible by the KV head count 3")]
    [InlineData("llama.rope.dimension_count", 12u, "RoPE dimension count 12")]
    [InlineData("llama.attention.layer_norm_rms_epsilon", 0f, "epsilon")]
    public void Inconsistent_hyper_parameters_are_explained(string key, object value, string expected)
    {
        var error = Assert.Throws<UnsupportedModelException>(() => Load(m => m.Metadata[key] = value));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Embedding_tensor_of_the_wrong_width_is_named()
    {
        var error = Assert.Throws<UnsupportedModelException>(() => Load(m =>
            m.Add(LlamaTensorNames.TokenEmbedding, GgmlType.F32, 16, 20, new float[16 * 20])));
        Assert.Equal("token_embd.weight", error.TensorName);
        Assert.Contains("[16, 20]", error.Message);
        Assert.Contains("[32, n_vocab]", error.Message);
    }

    [Fact]
    public void Missing_required_key_is_a_format_error_naming_the_key()
    {
        var error = Assert.Throws<GgufFormatException>(() => Load(m => m.Metadata.Remove("llama.block_count")));
        Assert.Contains("llama.block_count", error.Message);
    }

    [Fact]
    public void Rope_scaling_and_experts_are_refused()
    {
        Assert.Contains("RoPE scaling 'linear'", Assert.Throws<UnsupportedModelException>(() => Load(m =>
        {
            m.Metadata["llama.rope.scaling.type"] = "linear";
            m.Metadata["llama.rope.scaling.factor"] = 4f;
        })).Message);
        // llama 3's frequency factors are part of the llama architecture; an architecture without them refuses them.
        Assert.Equal("llama", Load(m => m.Add("rope_freqs.weight", GgmlType.F32, 4, 1, new float[4])).Architecture);
        Assert.Equal("rope_freqs.weight", Assert.Throws<UnsupportedModelException>(() => Load(m =>
        {
            Rename(m, "qwen2");
            m.Add("rope_freqs.weight", GgmlType.F32, 4, 1, new float[4]);
        })).TensorName);
        Assert.Contains("experts", Assert.Throws<UnsupportedModelException>(() => Load(m =>
            m.Metadata["llama.expert_count"] = 8u)).Message);
    }

    [Theory]
    [InlineData("qwen2", RopeStyle.NeoX)]
    [InlineData("qwen3", RopeStyle.NeoX)]
    [InlineData("phi3", RopeStyle.NeoX)]
    [InlineData("gemma2", RopeStyle.NeoX)]
    [InlineData("llama", RopeStyle.Normal)]
    public void Supported_architectures_read_their_own_keys(string architecture, RopeStyle rope)
    {
        var config = Load(m => Rename(m, architecture));
        Assert.Equal(architecture, config.Architecture);
        Assert.Equal(rope, config.Traits.Rope);
        var unknown = Assert.Throws<UnsupportedModelException>(() => Load(m => Rename(m, "mamba")));
        Assert.Contains("'mamba' is not supported", unknown.Message, StringComparison.Ordinal);
        Assert.Contains("'qwen3'", unknown.Message, StringComparison.Ordinal);
    }

    /// <summary>Moves the model's hyperparameters under another architecture's keys.</summary>
    private static void Rename(SyntheticLlama model, string architecture)
    {
        foreach (var key in model.Metadata.Keys.Where(k => k.StartsWith("llama.", StringComparison.Ordinal) && architecture != "llama").ToList())
        {
            model.Metadata[architecture + key["llama".Length..]] = model.Metadata[key];
            model.Metadata.Remove(key);
        }
        model.Metadata["general.architecture"] = architecture;
    }

    [Fact]
    public void Explicit_configuration_is_validated_too()
    {
        var config = new LlamaConfig(embeddingLength: 64, layerCount: 2, feedForwardLength: 128, headCount: 8,
            kvHeadCount: 2, rmsEpsilon: 1e-6f, contextLength: 256, vocabularySize: 100);
        Assert.Equal(8, config.HeadDimension);
        Assert.Equal(8, config.RopeDimensionCount);
        Assert.Equal(16, config.KvWidth);
        Assert.Equal(4, config.HeadsPerKvHead);
        Assert.Throws<ArgumentException>(() => new LlamaConfig(64, 2, 128, 8, 3, 1e-6f, 256, 100));
    }

    private static LlamaConfig Load(Action<SyntheticLlama> edit)
    {
        using var directory = new TemporaryDirectory();
        var model = new SyntheticLlama(32, 1, 48, 4, 2, 20, seed: 1);
        edit(model);
        using GgufFile file = GgufFile.Open(model.Write(directory.File("m.gguf")));
        return LlamaConfig.FromGguf(file);
    }
}
