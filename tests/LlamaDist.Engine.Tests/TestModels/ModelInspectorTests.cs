using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Tests.TestModels;

/// <summary>
/// ModelInspector (Get-LlamaModel) describes every readable GGUF: a model the engine runs is Supported with no
/// reason; one whose architecture, tokenizer or weight types the engine's loaders refuse is still described from
/// its own &lt;architecture&gt;.* keys, with Supported false and the loader's message as the reason.
/// </summary>
public sealed class ModelInspectorTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), $"llamadist-inspector-{Guid.NewGuid():N}");

    public ModelInspectorTests() => Directory.CreateDirectory(directory);

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void A_runnable_llama_model_is_supported_without_a_reason()
    {
        var summary = ModelInspector.Inspect(ArchitectureModels.Get("Llama"));

        Assert.True(summary.Supported);
        Assert.Equal("", summary.Reason);
        Assert.Equal("llama", summary.Architecture);
        Assert.Equal((2, 64, 192, 4, 4, 512, 32000), (summary.LayerCount, summary.EmbeddingLength,
            summary.FeedForwardLength, summary.HeadCount, summary.KvHeadCount, summary.ContextLength, summary.VocabularySize));
    }

    [Fact]
    public void An_architecture_the_engine_lacks_is_described_from_its_own_keys()
    {
        var path = RefusedModels.WithArchitecture(ArchitectureModels.Get("Llama", "Small"), Path.Combine(directory, "mamba.gguf"));

        var summary = ModelInspector.Inspect(path);

        Assert.False(summary.Supported);
        Assert.Contains("'mamba'", summary.Reason);
        Assert.Equal("mamba", summary.Architecture);
        // Small preset, read from mamba.* keys: 4 layers, embedding 256, FFN 704, 8 heads / 2 KV heads, context 1024.
        Assert.Equal((4, 256, 704, 8, 2, 1024, 32000), (summary.LayerCount, summary.EmbeddingLength,
            summary.FeedForwardLength, summary.HeadCount, summary.KvHeadCount, summary.ContextLength, summary.VocabularySize));
        Assert.Equal("F32", summary.PredominantType);
        Assert.Equal("llama", summary.TokenizerModel);
    }

    [Fact]
    public void A_tokenizer_the_engine_lacks_is_named_in_the_reason()
    {
        var path = RefusedModels.WithTokenizer(ArchitectureModels.Get("Llama"), Path.Combine(directory, "rwkv-vocab.gguf"));

        var summary = ModelInspector.Inspect(path);

        Assert.False(summary.Supported);
        Assert.Contains("'rwkv'", summary.Reason);
        Assert.Equal("rwkv", summary.TokenizerModel);
        Assert.Equal("llama", summary.Architecture);
        Assert.Equal(2, summary.LayerCount);
    }

    [Fact]
    public void A_weight_type_the_engine_cannot_compute_is_named_with_its_tensor()
    {
        var path = RefusedModels.WithWeightType(ArchitectureModels.Get("Llama"), Path.Combine(directory, "iq4nl.gguf"));

        var summary = ModelInspector.Inspect(path);

        Assert.False(summary.Supported);
        Assert.Contains(RefusedModels.WeightTypeTensor, summary.Reason);
        Assert.Contains("IQ4_NL", summary.Reason);
        Assert.Contains("IQ4_NL:1", summary.WeightTypes);
    }

    [Theory]
    [MemberData(nameof(ArchitectureModels.Names), MemberType = typeof(ArchitectureModels))]
    public void Every_synthetic_architecture_is_described_and_runs(string architecture)
    {
        var summary = ModelInspector.Inspect(ArchitectureModels.Get(architecture));

        var expected = architecture switch { "Llama3" or "Mistral" => "llama", "Phi35" => "phi3", _ => architecture.ToLowerInvariant() };
        Assert.Equal(expected, summary.Architecture);
        Assert.Equal((2, 64, 192, 4, 4, 512, 32000), (summary.LayerCount, summary.EmbeddingLength,
            summary.FeedForwardLength, summary.HeadCount, summary.KvHeadCount, summary.ContextLength, summary.VocabularySize));
        Assert.True(summary.Supported, summary.Reason);
        Assert.Empty(summary.Reason);
    }

    [Fact]
    public void A_file_that_is_not_gguf_is_still_an_error()
    {
        var path = Path.Combine(directory, "notes.gguf");
        File.WriteAllText(path, "not a model");

        var error = Assert.Throws<LlamaDistException>(() => ModelInspector.Inspect(path));
        Assert.Equal(LlamaErrorKind.InvalidModelFile, error.Kind);
    }
}
