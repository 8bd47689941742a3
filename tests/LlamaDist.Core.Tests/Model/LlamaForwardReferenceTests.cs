using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;

namespace LlamaDist.Core.Tests.Model;

/// <summary>The forward pass against <see cref="NaiveLlama"/>, a plain double-precision implementation.</summary>
public sealed class LlamaForwardReferenceTests
{
    private static readonly int[] Prompt = [3, 17, 0, 29, 17, 8];

    [Theory]
    [InlineData(false, 4, 2)] // grouped-query attention: heads 0,1 read KV head 0; heads 2,3 read KV head 1
    [InlineData(true, 4, 4)]  // tied output head, one KV head per query head
    [InlineData(false, 4, 1)] // multi-query attention
    public void One_layer_f32_model_matches_the_naive_reference(bool tied, int heads, int kvHeads)
    {
        using var directory = new TemporaryDirectory();
        var model = new SyntheticLlama(embd: 16, layers: 1, ffn: 24, heads: heads, kvHeads: kvHeads, vocabulary: 32,
            seed: 11, tiedOutput: tied);
        string path = model.Write(directory.File("reference.gguf"));

        double[,] expected = NaiveLlama.Logits(model, Prompt);
        using var loaded = new LoadedModel(path);
        float[] actual = loaded.AllLogits(Prompt);

        double largest = 0;
        for (int t = 0; t < Prompt.Length; t++)
        {
            for (int v = 0; v < model.Vocabulary; v++)
            {
                Assert.True(Math.Abs(expected[t, v] - actual[t * model.Vocabulary + v]) < 1e-4,
                    $"token {t} logit {v}: reference {expected[t, v]}, engine {actual[t * model.Vocabulary + v]}");
                largest = Math.Max(largest, Math.Abs(expected[t, v]));
            }
        }
        Assert.True(largest > 0.5, $"logits are too small ({largest}) for the comparison to mean anything");
    }

    [Fact]
    public void Two_layer_model_with_partial_rope_and_custom_base_matches_the_naive_reference()
    {
        using var directory = new TemporaryDirectory();
        var model = new SyntheticLlama(embd: 32, layers: 2, ffn: 40, heads: 4, kvHeads: 2, vocabulary: 32, seed: 5,
            ropeBase: 500f, ropeDimensions: 4);
        string path = model.Write(directory.File("partial-rope.gguf"));

        double[,] expected = NaiveLlama.Logits(model, Prompt);
        using var loaded = new LoadedModel(path);
        float[] actual = loaded.AllLogits(Prompt);

        for (int t = 0; t < Prompt.Length; t++)
        {
            for (int v = 0; v < model.Vocabulary; v++)
            {
                Assert.True(Math.Abs(expected[t, v] - actual[t * model.Vocabulary + v]) < 1e-4,
                    $"token {t} logit {v}: reference {expected[t, v]}, engine {actual[t * model.Vocabulary + v]}");
            }
        }
    }

    [Theory]
    [InlineData(GgmlType.F16, 5e-3)]   // activations rounded to f16 (11-bit mantissa)
    [InlineData(GgmlType.BF16, 4e-2)]  // activations rounded to bf16 (8-bit mantissa)
    [InlineData(GgmlType.Q8_0, 1e-1)]  // activations quantized to 8 bits per 32-block
    public void Quantized_models_stay_near_the_reference_of_their_dequantized_weights(GgmlType type, double tolerance)
    {
        // The reference multiplies the dequantized weights by unrounded activations; the engine converts
        // activations to the weight's partner type first (as ggml does), so agreement is close, not exact.
        using var directory = new TemporaryDirectory();
        var model = new SyntheticLlama(embd: 64, layers: 2, ffn: 96, heads: 4, kvHeads: 2, vocabulary: 40, seed: 3,
            matrixType: type);
        string path = model.Write(directory.File("quantized.gguf"));

        double[,] expected = NaiveLlama.Logits(model, Prompt);
        using var loaded = new LoadedModel(path);
        float[] actual = loaded.AllLogits(Prompt);

        for (int t = 0; t < Prompt.Length; t++)
        {
            for (int v = 0; v < model.Vocabulary; v++)
            {
                Assert.True(Math.Abs(expected[t, v] - actual[t * model.Vocabulary + v]) < tolerance,
                    $"{type} token {t} logit {v}: reference {expected[t, v]}, engine {actual[t * model.Vocabulary + v]}");
            }
        }
    }
}
