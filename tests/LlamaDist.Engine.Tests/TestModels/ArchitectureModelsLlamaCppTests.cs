using LlamaDist.Engine.TestModels;
using LlamaDist.Engine.Tests.Agreement;
using LlamaDist.Engine.Tests.LlamaCpp;

namespace LlamaDist.Engine.Tests.TestModels;

/// <summary>
/// Proof that every architecture New-LlamaTestModel writes is a file llama.cpp (through LLamaSharp) accepts as
/// that architecture: it loads (llama.cpp checks every tensor's name and shape against its own table for the
/// architecture and fails on a missing or misshapen one), gives finite, spread logits over the whole vocabulary,
/// greedy continuations that repeat exactly, and logits that differ from every other architecture's for the same
/// seed and prompt (so each file's own keys and tensors are what llama.cpp ran).
/// </summary>
[Collection(LlamaCppCollection.Name)]
[Trait("Category", "Slow")]  // left out of build.ps1 -Task Test -Fast
public sealed class ArchitectureModelsLlamaCppTests
{
    private const int Threads = 2;
    private const int ContextSize = 128;
    private const string Prompt = "Once upon a time, in a quiet village by the sea, there lived an old fisherman who";

    [Theory]
    [MemberData(nameof(ArchitectureModels.Names), MemberType = typeof(ArchitectureModels))]
    public void Tiny_F32_loads_in_llama_cpp_with_finite_logits_and_repeatable_greedy_tokens(string architecture)
    {
        using var oracle = LlamaCppOracle.Load(ArchitectureModels.Get(architecture), ContextSize, Threads);
        AssertRuns(oracle);
    }

    /// <summary>
    /// A K-quant on the Small (grouped-query) shape: Q4_K matrices, Q8_0 fallbacks and a Q6_K head, for the
    /// layouts whose quantized matrices differ from llama's: the embedding as the head (Llama3, Gemma2), Q wider
    /// than the residual stream (Qwen3, Gemma2), fused QKV and gate/up (Phi3). Llama, Mistral, Qwen2 (F32
    /// biases only) and Phi35 (Phi3's matrices) quantize like one of these.
    /// </summary>
    [Theory]
    [InlineData("Llama3")]
    [InlineData("Qwen3")]
    [InlineData("Phi3")]
    [InlineData("Gemma2")]
    public void Small_Q4_K_loads_in_llama_cpp_with_finite_logits_and_repeatable_greedy_tokens(string architecture)
    {
        using var oracle = LlamaCppOracle.Load(ArchitectureModels.Get(architecture, "Small", "Q4_K"), ContextSize, Threads);
        AssertRuns(oracle);
    }

    [Fact]
    public void Every_architecture_gives_different_logits_for_the_same_seed_and_prompt()
    {
        var logitsByArchitecture = new Dictionary<string, float[]>();
        foreach (var architecture in TestModelFactory.Architectures)
        {
            using var oracle = LlamaCppOracle.Load(ArchitectureModels.Get(architecture), ContextSize, Threads);
            logitsByArchitecture[architecture] = oracle.EvaluateLastLogits(oracle.Tokenize(Prompt, addBos: true));
        }

        var names = logitsByArchitecture.Keys.ToArray();
        for (var i = 0; i < names.Length; i++)
        {
            for (var j = i + 1; j < names.Length; j++)
            {
                var difference = MaxAbsoluteDifference(logitsByArchitecture[names[i]], logitsByArchitecture[names[j]]);
                Assert.True(difference > 0.1f,
                    $"{names[i]} and {names[j]} give logits within {difference} of each other; each should run its own graph.");
            }
        }
    }

    /// <summary>
    /// Phi35's original context is half its 512: llama.cpp takes the short factors for a context of 128 (which it
    /// rounds up to 256) and the long ones for 512, so the same prompt gives different logits; Phi3 (no factors)
    /// does not change.
    /// </summary>
    [Fact]
    public void Phi35_long_rope_factors_take_effect_beyond_the_original_context()
    {
        var tokens = Array.Empty<int>();
        float[] LastLogits(string architecture, int contextSize)
        {
            using var oracle = LlamaCppOracle.Load(ArchitectureModels.Get(architecture), contextSize, Threads);
            tokens = oracle.Tokenize(Prompt, addBos: true);
            return oracle.EvaluateLastLogits(tokens);
        }

        var longRopeDifference = MaxAbsoluteDifference(LastLogits("Phi35", 128), LastLogits("Phi35", 512));
        var plainDifference = MaxAbsoluteDifference(LastLogits("Phi3", 128), LastLogits("Phi3", 512));

        Assert.True(longRopeDifference > 0.1f, $"short and long factors gave logits within {longRopeDifference}");
        Assert.True(plainDifference < 1e-3f, $"without factors the context size changed logits by {plainDifference}");
    }

    private static void AssertRuns(LlamaCppOracle oracle)
    {
        Assert.Equal(32000, oracle.VocabularySize);
        var tokens = oracle.Tokenize(Prompt, addBos: true);
        Assert.Equal(1, tokens[0]); // BOS of the SPM vocabulary every architecture keeps

        var logits = oracle.EvaluateLastLogits(tokens);
        Assert.Equal(32000, logits.Length);
        Assert.All(logits, value => Assert.True(float.IsFinite(value), $"non-finite logit {value}"));
        Assert.True(logits.Max() - logits.Min() > 1f, $"logits barely spread: [{logits.Min()}, {logits.Max()}]");

        var first = oracle.GenerateGreedy(tokens, 12);
        var second = oracle.GenerateGreedy(tokens, 12);
        Assert.Equal(first, second);
        Assert.Equal(Array.IndexOf(logits, logits.Max()), first[0]); // greedy starts at the prompt's argmax
    }

    private static float MaxAbsoluteDifference(float[] left, float[] right)
    {
        Assert.Equal(left.Length, right.Length);
        var max = 0f;
        for (var i = 0; i < left.Length; i++)
            max = Math.Max(max, Math.Abs(left[i] - right[i]));
        return max;
    }
}
