using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;
using LlamaDist.Engine.TestModels;
using LlamaDist.Engine.Tests.LlamaCpp;
using LlamaDist.Engine.Tests.TestModels;
using LlamaDist.Engine.Workers;
using Xunit.Abstractions;

namespace LlamaDist.Engine.Tests.Agreement;

/// <summary>
/// Llama 3 (RoPE frequency factors, tied head), qwen2 (Q/K/V biases, NeoX RoPE), qwen3 (per-head Q/K norms, wide
/// heads), phi3 (fused products, scaled query), gemma2 (scaled embeddings, post norms, GeGLU, soft-capping, sliding
/// window on even layers) and Mistral against llama.cpp on the same files: prompt ids, last logits within the weight type's tolerance,
/// greedy continuations, perplexity within 1%; and a 2-worker cluster gives the local greedy tokens.
/// </summary>
[Collection(LlamaCppCollection.Name)]
[Trait("Category", "Slow")]  // left out of build.ps1 -Task Test -Fast
public sealed class ArchitectureAgreementTests(ITestOutputHelper output)
{
    private const int Threads = 2;

    private static readonly Lazy<string> Directory = new(() =>
    {
        var directory = ProcessTempDirectory.Create("llamadist-architectures");
        return directory;
    });

    /// <summary>The architectures New-LlamaTestModel writes beside plain llama.</summary>
    public static readonly string[] Architectures = ["Llama3", "Qwen2", "Qwen3", "Phi3", "Phi35", "Gemma2", "Mistral"];

    public static TheoryData<string, string> Models()
    {
        var data = new TheoryData<string, string>();
        foreach (var architecture in Architectures)
        {
            data.Add(architecture, "F32");
            data.Add(architecture, "Q8_0");
        }
        return data;
    }

    private static readonly object Gate = new();

    /// <summary>A Small model of <paramref name="architecture"/> in llama.cpp's converter layout (see TestModelFactory).</summary>
    private static string ModelPath(string architecture, string type)
    {
        lock (Gate)
        {
            var path = Path.Combine(Directory.Value, $"small-{architecture}-{type}.gguf");
            if (!File.Exists(path))
            {
                TestModelFactory.Create(path, "Small", type, seed: 17, vocabularyFrom: null, overwrite: true, architecture: architecture);
            }
            return path;
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Logits_greedy_tokens_and_perplexity_agree_with_llama_cpp(string architecture, string type)
    {
        var path = ModelPath(architecture, type);
        var tolerance = Tolerance.For(type);
        using var ours = LocalModel.Load(path, Threads);
        using (var reference = LlamaCppOracle.Load(path, contextSize: 128, threads: Threads))
        {
            foreach (var prompt in LlamaCppAgreementTests.Prompts.Take(3))
            {
                var tokens = ours.Tokenize(prompt);
                Assert.Equal(reference.Tokenize(prompt, addBos: true), tokens);
                var expected = reference.EvaluateLastLogits(tokens);
                var (cosine, maxAbs) = LogitComparison.Compare(expected, ours.EvaluateLastLogits(tokens));
                output.WriteLine($"{architecture} {type} '{prompt}': cosine {cosine:F7}, max |diff| {maxAbs:G4} (spread {LogitComparison.Spread(expected):F2})");
                Assert.True(cosine >= tolerance.MinimumCosine, $"cosine {cosine}");
                Assert.True(maxAbs <= tolerance.MaximumAbsoluteDifference, $"max |diff| {maxAbs} > {tolerance.MaximumAbsoluteDifference}");

                // The same context as llama.cpp's: LongRoPE (Phi35) chooses its factors by it.
                var greedy = ours.Generate(new GenerationRequest { Prompt = prompt, MaxTokens = 8, Temperature = 0, ContextSize = 128 }).TokenIds;
                var referenceGreedy = reference.GenerateGreedy(tokens, greedy.Length);
                for (int i = 0; i < greedy.Length; i++)
                {
                    if (greedy[i] == referenceGreedy[i])
                    {
                        continue;
                    }
                    // A step may differ only where llama.cpp's own top-two margin is a tie the tolerance allows.
                    var margin = LogitComparison.TopTwoMargin(reference.EvaluateLastLogits([.. tokens, .. referenceGreedy[..i]]));
                    Assert.True(type != "F32" && margin <= tolerance.TieMargin, $"step {i}: ours {greedy[i]}, llama.cpp {referenceGreedy[i]}, margin {margin}");
                    break;
                }
            }
        }

        const int contextSize = 64;
        var text = PerplexityText.Build();
        using var perplexityReference = LlamaCppOracle.Load(path, contextSize: contextSize, threads: Threads);
        var actual = ours.MeasurePerplexity(text, contextSize);
        var expectedPerplexity = perplexityReference.Perplexity(ours.Tokenize(text), contextSize);
        output.WriteLine($"{architecture} {type}: perplexity ours {actual.Perplexity:F4}, llama.cpp {expectedPerplexity.Perplexity:F4}");
        Assert.InRange(actual.Perplexity / expectedPerplexity.Perplexity, 0.99, 1.01);
    }

    public static TheoryData<string> ArchitectureNames() => new(Architectures);

    /// <summary>
    /// Phi-3.5's LongRoPE: within the original context (256 on Tiny) the short factors apply, beyond it the long ones,
    /// both with the attention factor, as llama.cpp chooses them by the context it is given (it rounds 128 up to 256).
    /// Greedy continuations at a context of each kind equal llama.cpp's at the same context.
    /// </summary>
    [Theory]
    [InlineData(128)]
    [InlineData(512)]
    public void Phi35_greedy_tokens_agree_within_and_beyond_the_original_context(int contextSize)
    {
        var path = Path.Combine(Directory.Value, "tiny-Phi35-F32.gguf");
        lock (Gate)
        {
            if (!File.Exists(path))
            {
                TestModelFactory.Create(path, "Tiny", "F32", seed: 17, vocabularyFrom: null, overwrite: true, architecture: "Phi35");
            }
        }
        using var ours = LocalModel.Load(path, Threads);
        using var reference = LlamaCppOracle.Load(path, contextSize: contextSize, threads: Threads);
        foreach (var prompt in LlamaCppAgreementTests.Prompts.Take(3))
        {
            var tokens = ours.Tokenize(prompt);
            var greedy = ours.Generate(new GenerationRequest { Prompt = prompt, MaxTokens = 8, Temperature = 0, ContextSize = contextSize }).TokenIds;
            var expected = reference.GenerateGreedy(tokens, greedy.Length);
            output.WriteLine($"Phi35 context {contextSize} '{prompt}': ours [{string.Join(", ", greedy)}], llama.cpp [{string.Join(", ", expected)}]");
            Assert.Equal(expected, greedy);
        }
    }

    [Theory]
    [MemberData(nameof(ArchitectureNames))]
    public void A_two_worker_cluster_gives_the_local_greedy_tokens(string architecture)
    {
        var path = ModelPath(architecture, "F32");
        var request = new GenerationRequest { Prompt = "The quick brown fox jumps over", MaxTokens = 10, Temperature = 0, BatchSize = 4 };
        int[] expected;
        using (var local = LocalModel.Load(path, threads: 1))
        {
            expected = local.Generate(request).TokenIds;
        }
        var cache = Path.Combine(Directory.Value, $"cluster-{architecture}-{Guid.NewGuid():N}");
        // One worker reads the file, the other has none of its own and receives its layers: both paths run.
        using var reader = EmbeddedWorker.Start(new WorkerStartRequest { Port = 0, Threads = 1, CacheDirectory = cache + "-a" });
        using var receiver = EmbeddedWorker.Start(new WorkerStartRequest
        {
            Port = 0, Threads = 1, CacheDirectory = cache + "-b", ModelPath = System.IO.Directory.CreateDirectory(cache + "-models").FullName,
        });
        using var cluster = ClusterModel.Create(new ClusterRequest
        {
            ModelPath = path, Workers = [reader.Endpoint, receiver.Endpoint], Split = "Even", ActivationEncoding = "F32",
        });
        Assert.Equal(expected, cluster.Generate(request).TokenIds);
    }
}
