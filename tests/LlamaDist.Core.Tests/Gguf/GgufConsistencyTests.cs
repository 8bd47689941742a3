using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Tests.Model;
using LlamaDist.Core.Tokenization;
using Xunit;

namespace LlamaDist.Core.Tests.Gguf;

/// <summary>
/// Files whose parts disagree with each other — tensors sharing bytes or lying past the end, vocabulary arrays of
/// different lengths, a vocab_size the embeddings contradict — are <see cref="GgufFormatException"/>s (InvalidGguf
/// to a user) that name the offending tensor or key, never a silent load or another exception type.
/// </summary>
public class GgufConsistencyTests : IDisposable
{
    private const uint F32 = 0;
    private readonly TemporaryDirectory directory = new();

    public void Dispose() => directory.Dispose();

    [Fact]
    public void Tensors_whose_data_overlap_are_refused_naming_both()
    {
        // Two 16-float tensors, both at offset 0 of a 64-byte data section: the second aliases the first.
        var builder = RawGgufBuilder.WithHeader(2, 0).Tensor("a.weight", [16], F32, 0);
        long secondOffsetField = builder.Position + 4 + "b.weight".Length + 4 + 8 + 4 + 4;
        builder.Tensor("b.weight", [16], F32, 0).PadTo(32).Zeros(64);

        var error = Assert.Throws<GgufFormatException>(() => GgufFile.Open(Write(builder.ToArray())).Dispose());
        Assert.Contains("overlaps", error.Problem);
        Assert.Contains("'a.weight'", error.Problem);
        Assert.Contains("'b.weight'", error.Problem);
        Assert.True(error.Offset > 0 && error.Offset <= secondOffsetField + 8, $"offset {error.Offset}");
    }

    [Fact]
    public void Tensors_that_share_only_a_boundary_are_fine()
    {
        var builder = RawGgufBuilder.WithHeader(2, 0).Tensor("a.weight", [8], F32, 0).Tensor("b.weight", [8], F32, 32).PadTo(32).Zeros(64);
        using var file = GgufFile.Open(Write(builder.ToArray()));
        Assert.Equal(2, file.Tensors.Count);
    }

    [Fact]
    public void A_tensor_partly_overlapping_a_larger_one_is_refused()
    {
        var builder = RawGgufBuilder.WithHeader(3, 0)
            .Tensor("big.weight", [32], F32, 0).Tensor("inside.weight", [8], F32, 64).Tensor("after.weight", [8], F32, 128)
            .PadTo(32).Zeros(160);
        var error = Assert.Throws<GgufFormatException>(() => GgufFile.Open(Write(builder.ToArray())).Dispose());
        Assert.Contains("'inside.weight'", error.Problem);
        Assert.Contains("'big.weight'", error.Problem);
    }

    [Fact]
    public void A_tensor_past_the_end_of_the_file_is_refused_naming_it()
    {
        var builder = RawGgufBuilder.WithHeader(1, 0).Tensor("far.weight", [16], F32, 1 << 20).PadTo(32).Zeros(64);
        var error = Assert.Throws<GgufFormatException>(() => GgufFile.Open(Write(builder.ToArray())).Dispose());
        Assert.Contains("'far.weight'", error.Problem);
        Assert.Contains("outside", error.Problem);
    }

    [Fact]
    public void A_vocab_size_of_two_to_the_31_is_refused_naming_the_key()
    {
        var error = Assert.Throws<GgufFormatException>(() => LoadConfig(m => m.Metadata["llama.vocab_size"] = 1u << 31));
        Assert.Contains("'llama.vocab_size'", error.Problem);
        Assert.Contains("2147483648", error.Problem);
    }

    [Fact]
    public void A_vocab_size_the_embeddings_contradict_is_refused_naming_the_key()
    {
        var error = Assert.Throws<GgufFormatException>(() => LoadConfig(m => m.Metadata["llama.vocab_size"] = 21u));
        Assert.Contains("'llama.vocab_size'", error.Problem);
        Assert.Contains("token_embd.weight", error.Problem);
    }

    [Fact]
    public void A_matching_vocab_size_loads()
    {
        Assert.Equal(20, LoadConfig(m => m.Metadata["llama.vocab_size"] = 20u).VocabularySize);
    }

    [Theory]
    [InlineData(TokenizerFactory.ScoresKey, 3, 4)]
    [InlineData(TokenizerFactory.TokenTypesKey, 4, 5)]
    [InlineData(TokenizerFactory.TokenTypesKey, 4, 2)]
    public void Vocabulary_arrays_of_different_lengths_are_refused_naming_the_key(string key, int scores, int types)
    {
        var writer = new GgufWriter();
        writer.SetMetadata(TokenizerFactory.ModelKey, "llama");
        writer.SetMetadata(TokenizerFactory.TokensKey, new[] { "<unk>", "<s>", "</s>", "▁a" });
        writer.SetMetadata(TokenizerFactory.ScoresKey, new float[scores]);
        writer.SetMetadata(TokenizerFactory.TokenTypesKey, Enumerable.Repeat(1, types).ToArray());
        string path = directory.File($"vocabulary-{key}-{scores}-{types}.gguf");
        writer.WriteTo(path);

        using var file = GgufFile.Open(path);
        var error = Assert.Throws<GgufFormatException>(() => TokenizerFactory.FromGguf(file));
        Assert.Contains($"'{key}'", error.Problem);
        Assert.Contains("'tokenizer.ggml.tokens' has 4", error.Problem);
    }

    [Fact]
    public void An_empty_token_array_is_refused_naming_the_key()
    {
        var writer = new GgufWriter();
        writer.SetMetadata(TokenizerFactory.ModelKey, "llama");
        writer.SetMetadata(TokenizerFactory.TokensKey, Array.Empty<string>());
        string path = directory.File("no-tokens.gguf");
        writer.WriteTo(path);

        using var file = GgufFile.Open(path);
        Assert.Contains($"'{TokenizerFactory.TokensKey}'", Assert.Throws<GgufFormatException>(() => TokenizerFactory.FromGguf(file)).Problem);
    }

    private string Write(byte[] bytes)
    {
        string path = directory.File($"case-{Guid.NewGuid():N}.gguf");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private LlamaConfig LoadConfig(Action<SyntheticLlama> edit)
    {
        var model = new SyntheticLlama(32, 1, 48, 4, 2, 20, seed: 1);
        edit(model);
        using GgufFile file = GgufFile.Open(model.Write(directory.File($"m-{Guid.NewGuid():N}.gguf")));
        return LlamaConfig.FromGguf(file);
    }
}
