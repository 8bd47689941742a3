using System.Diagnostics;
using LlamaDist.Core.Conversion;
using LlamaDist.Core.Gguf;
using LlamaDist.Engine.Models;
using LlamaDist.Engine.Tests.Agreement;
using LlamaDist.Engine.Tests.LlamaCpp;
using Xunit.Abstractions;

namespace LlamaDist.Engine.Tests.Conversion;

/// <summary>
/// Our converter against llama.cpp's quantizer: files we write load in llama.cpp and agree with our engine; files
/// llama.cpp writes load in our engine and agree with llama.cpp; both pick the same type for every tensor.
/// </summary>
[Collection(LlamaCppCollection.Name)]
[Trait("Category", "Slow")]  // left out of build.ps1 -Task Test -Fast
public sealed class LlamaCppQuantizeAgreementTests(ITestOutputHelper output)
{
    private const int Threads = 2;

    /// <summary>Mixed-type files are held to the bound of their base type (the other types in them have bounds at most as wide).</summary>
    private static Tolerance ToleranceFor(string preset) => Tolerance.For(preset switch
    {
        "Q4_K_M" or "Q4_K_S" => "Q4_K",
        "Q5_K_M" or "Q5_K_S" => "Q5_K",
        // The Q2_K and Q3_K mixes keep some tensors in Q4_K / Q5_K / Q6_K, whose dots carry the larger tolerance.
        "Q2_K" or "Q3_K_S" or "Q3_K_M" or "Q3_K_L" => "Q4_K",
        _ => preset,
    });

    [Theory]
    [InlineData("Q4_K_M")]
    [InlineData("Q8_0")]
    public void Our_conversion_loads_in_llama_cpp_and_agrees_with_our_engine(string preset)
    {
        var path = QuantizedModels.Ours(preset);
        var (maxAbs, minCosine) = CompareLogits(path, ToleranceFor(preset), $"ours-{preset}");
        output.WriteLine($"ours-{preset}: max |diff| {maxAbs:G4}, min cosine {minCosine:F7}");
    }

    [Theory]
    [InlineData("Q4_0")]
    [InlineData("Q8_0")]
    [InlineData("Q4_1")]
    [InlineData("Q5_0")]
    [InlineData("Q5_1")]
    [InlineData("Q2_K")]
    [InlineData("Q3_K_M")]
    [InlineData("Q4_K_M")]
    [InlineData("Q5_K_M")]
    [InlineData("Q6_K")]
    public void Llama_cpp_quantized_file_runs_in_our_engine_and_agrees_with_llama_cpp(string preset)
    {
        var path = QuantizedModels.LlamaCpp(preset);
        var (maxAbs, minCosine) = CompareLogits(path, ToleranceFor(preset), $"llamacpp-{preset}");

        const int contextSize = 64;
        var text = PerplexityText.Build();
        using var ours = LocalModel.Load(path, Threads);
        using var reference = LlamaCppOracle.Load(path, contextSize: contextSize, threads: Threads);
        var actual = ours.MeasurePerplexity(text, contextSize);
        var expected = reference.Perplexity(ours.Tokenize(text), contextSize);
        var ratio = actual.Perplexity / expected.Perplexity;
        output.WriteLine($"llamacpp-{preset}: max |diff| {maxAbs:G4}, min cosine {minCosine:F7}, perplexity ours {actual.Perplexity:F4}, llama.cpp {expected.Perplexity:F4}, ratio {ratio:F6}");
        Assert.Equal(expected.Chunks, actual.Chunks);
        Assert.Equal(expected.ScoredTokens, actual.ScoredTokens);
        Assert.InRange(ratio, 0.99, 1.01);
    }

    /// <summary>
    /// For every preset, llama.cpp's quantizer and our rules store every tensor in the same type. Tensors both
    /// store in Q8_0 or Q4_0 (whose quantizers are bit-exact with ggml's reference ones) must also have the same
    /// bytes; for the other types the count of identical tensors is only reported.
    /// </summary>
    [Fact]
    public void Per_tensor_types_match_llama_cpp_for_every_preset()
    {
        var differences = new List<string>();
        foreach (var preset in QuantizationPresets.Names)
        {
            var clock = Stopwatch.StartNew();
            using var theirs = GgufFile.Open(QuantizedModels.LlamaCpp(preset));
            using var source = GgufFile.Open(QuantizedModels.SourcePath);
            var plan = TensorTypeRules.Plan(source, QuantizationPresets.Parse(preset));
            Assert.Equal(QuantizationPresets.FileType(QuantizationPresets.Parse(preset)), theirs.GetValue<uint>("general.file_type"));
            Assert.Equal(source.Tensors.Count, theirs.Tensors.Count);
            foreach (var tensor in plan)
            {
                var their = theirs.GetTensor(tensor.Name).Type;
                if (their != tensor.TargetType)
                {
                    differences.Add($"{preset} {tensor.Name}: llama.cpp {GgmlTypeInfo.Name(their)}, ours {GgmlTypeInfo.Name(tensor.TargetType)}");
                }
            }
            var mix = plan.GroupBy(t => GgmlTypeInfo.Name(t.TargetType)).Select(g => $"{g.Key} x{g.Count()}");
            output.WriteLine($"{preset}: {string.Join(", ", mix)} ({clock.ElapsedMilliseconds} ms)");
        }
        foreach (var difference in differences)
        {
            output.WriteLine(difference);
        }
        Assert.Empty(differences);
    }

    [Theory]
    [InlineData("Q8_0")]
    [InlineData("Q4_0")]
    [InlineData("Q4_K_M")]
    [InlineData("Q6_K")]
    public void Our_bytes_compared_with_llama_cpp(string preset)
    {
        using var theirs = GgufFile.Open(QuantizedModels.LlamaCpp(preset));
        using var ours = GgufFile.Open(QuantizedModels.Ours(preset));
        var identical = new Dictionary<string, (int Same, int Total)>();
        foreach (var tensor in ours.Tensors)
        {
            var their = theirs.GetTensor(tensor.Name);
            Assert.Equal(their.Type, tensor.Type);
            var name = GgmlTypeInfo.Name(tensor.Type);
            var same = ours.GetTensorBytes(tensor).SequenceEqual(theirs.GetTensorBytes(their));
            identical.TryGetValue(name, out var count);
            identical[name] = (count.Same + (same ? 1 : 0), count.Total + 1);
        }
        output.WriteLine($"{preset}: identical tensors per type: {string.Join(", ", identical.Select(p => $"{p.Key} {p.Value.Same}/{p.Value.Total}"))}");
        foreach (var type in new[] { "Q8_0", "Q4_0", "F32" })
        {
            if (identical.TryGetValue(type, out var count))
            {
                Assert.True(count.Same == count.Total, $"{preset}: {type} tensors identical {count.Same}/{count.Total}");
            }
        }
    }

    /// <summary>
    /// The quantization error of our converter, per stored type, against llama.cpp's on the same F32 weights:
    /// the squared error of every dequantized tensor summed per type. Our K-quant fits minimise the plain squared
    /// error where llama-quantize weights it by |x|, so the bytes differ; ours must be no larger than llama.cpp's.
    /// </summary>
    [Theory]
    [InlineData("Q2_K")]
    [InlineData("Q3_K_M")]
    [InlineData("Q4_K_M")]
    [InlineData("Q5_K_M")]
    [InlineData("Q6_K")]
    public void Our_quantization_error_is_close_to_llama_cpp(string preset)
    {
        using var source = GgufFile.Open(QuantizedModels.SourcePath);
        using var theirs = GgufFile.Open(QuantizedModels.LlamaCpp(preset));
        using var ours = GgufFile.Open(QuantizedModels.Ours(preset));
        var errors = new Dictionary<GgmlType, (double Ours, double Theirs)>();
        foreach (var tensor in ours.Tensors)
        {
            if (tensor.Type is GgmlType.F32 or GgmlType.F16)
            {
                continue;
            }
            var original = source.GetTensor(tensor.Name);
            var their = theirs.GetTensor(tensor.Name);
            int columns = (int)tensor.Columns;
            long rows = tensor.ElementCount / columns;
            long rowBytes = GgmlTypeInfo.RowBytes(tensor.Type, columns);
            var exact = new float[columns];
            var ourRow = new float[columns];
            var theirRow = new float[columns];
            double ourError = 0, theirError = 0;
            for (long r = 0; r < rows; r++)
            {
                System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(
                    source.GetTensorBytes(original).Slice((int)(r * columns * sizeof(float)), columns * sizeof(float))).CopyTo(exact);
                Core.Quantization.Quantizer.DequantizeRow(tensor.Type, ours.GetTensorBytes(tensor).Slice((int)(r * rowBytes), (int)rowBytes), ourRow);
                Core.Quantization.Quantizer.DequantizeRow(their.Type, theirs.GetTensorBytes(their).Slice((int)(r * rowBytes), (int)rowBytes), theirRow);
                for (int c = 0; c < columns; c++)
                {
                    ourError += (ourRow[c] - exact[c]) * (double)(ourRow[c] - exact[c]);
                    theirError += (theirRow[c] - exact[c]) * (double)(theirRow[c] - exact[c]);
                }
            }
            errors.TryGetValue(tensor.Type, out var sum);
            errors[tensor.Type] = (sum.Ours + ourError, sum.Theirs + theirError);
        }
        foreach (var (type, sum) in errors)
        {
            output.WriteLine($"{preset} {GgmlTypeInfo.Name(type)}: squared error ours / llama.cpp = {sum.Ours / sum.Theirs:F4}");
        }
        foreach (var (type, sum) in errors)
        {
            Assert.True(sum.Ours <= sum.Theirs * MaximumErrorRatio,
                $"{preset} {GgmlTypeInfo.Name(type)}: squared error {sum.Ours:G4} against llama.cpp's {sum.Theirs:G4}");
        }
    }

    // Measured on the Small preset: Q2_K 0.80, Q3_K 0.91, Q4_K 0.98, Q5_K 0.95, Q6_K 0.95; Q4_0 / Q5_0 / Q5_1 /
    // Q8_0 are the same bytes (1.0).
    private const double MaximumErrorRatio = 1.0;

    private (double MaxAbs, double MinCosine) CompareLogits(string path, Tolerance tolerance, string name)
    {
        using var ours = LocalModel.Load(path, Threads);
        using var reference = LlamaCppOracle.Load(path, contextSize: 128, threads: Threads);
        double worst = 0, minCosine = 1;
        foreach (var prompt in LlamaCppAgreementTests.Prompts)
        {
            var tokens = ours.Tokenize(prompt);
            Assert.Equal(reference.Tokenize(prompt, addBos: true), tokens);
            var (cosine, maxAbs) = LogitComparison.Compare(reference.EvaluateLastLogits(tokens), ours.EvaluateLastLogits(tokens));
            output.WriteLine($"{name} '{prompt}': cosine {cosine:F7}, max |diff| {maxAbs:G4}");
            Assert.True(cosine >= tolerance.MinimumCosine, $"{name} '{prompt}': cosine {cosine} < {tolerance.MinimumCosine}");
            Assert.True(maxAbs <= tolerance.MaximumAbsoluteDifference, $"{name} '{prompt}': max |diff| {maxAbs} > {tolerance.MaximumAbsoluteDifference}");
            worst = Math.Max(worst, maxAbs);
            minCosine = Math.Min(minCosine, cosine);
        }
        return (worst, minCosine);
    }
}
