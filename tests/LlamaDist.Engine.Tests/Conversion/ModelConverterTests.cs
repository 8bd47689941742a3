using LlamaDist.Core.Gguf;
using LlamaDist.Engine.Conversion;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Tests.Conversion;

/// <summary>The engine facade: preset names, result, and errors as <see cref="LlamaDistException"/> kinds.</summary>
public sealed class ModelConverterTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "llamadist-convert-" + Guid.NewGuid().ToString("N"));

    public ModelConverterTests() => Directory.CreateDirectory(directory);

    public void Dispose()
    {
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void Types_lists_the_llama_quantize_presets()
    {
        Assert.Equal(["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L",
            "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K"], ModelConverter.Types);
    }

    [Fact]
    public void Converts_the_embedded_model_and_reports_sizes_and_tensor_counts()
    {
        // The embedded model's rows are 8 wide: only the float presets fit it (llama-quantize fails on it too).
        var destination = Path.Combine(directory, "f16.gguf");
        var result = ModelConverter.Convert(ModelPaths.DefaultModelPath(), destination, "f16", overwrite: false,
            threads: 1, progress: null, CancellationToken.None);
        Assert.Equal("F16", result.Type);
        Assert.Equal(destination, result.DestinationPath);
        Assert.Equal(new FileInfo(destination).Length, result.DestinationBytes);
        Assert.Equal(new FileInfo(ModelPaths.DefaultModelPath()).Length, result.SourceBytes);
        using var file = GgufFile.Open(destination);
        Assert.Equal(file.Tensors.Count, result.TensorCount);
        Assert.Equal(file.Tensors.Count, result.TensorCounts.Values.Sum());
        Assert.Equal(file.Tensors.Count(t => t.Type == GgmlType.F16), result.TensorCounts["F16"]);
        Assert.Equal(file.Tensors.Count(t => t.Type == GgmlType.F32), result.TensorCounts["F32"]);
        Assert.Equal(1u, file.GetValue<uint>("general.file_type"));
        using var model = LocalModel.Load(destination, 1);
        Assert.NotEmpty(model.EvaluateLastLogits(model.Tokenize("Hello")));
    }

    [Fact]
    public void Reports_each_tensor_that_falls_back_as_llama_quantize_does()
    {
        // Tiny's rows are 64 and 192 wide: no K type fits, so every K tensor falls back to a 32-block type; the
        // output head is Q8_0 by the head rule (llama.cpp does not count it as a fallback either).
        var source = Path.Combine(directory, "tiny-f32.gguf");
        LlamaDist.Engine.TestModels.TestModelFactory.Create(source, "Tiny", "F32", 7, null, false, null, CancellationToken.None);
        var result = ModelConverter.Convert(source, Path.Combine(directory, "tiny-q4_k_m.gguf"), "Q4_K_M", overwrite: false,
            threads: 1, progress: null, CancellationToken.None);

        Assert.Equal(16, result.QuantizedTensorCount); // 7 matrices per layer x 2, token_embd, output
        Assert.Equal(15, result.Fallbacks.Count);
        Assert.DoesNotContain(result.Fallbacks, fallback => fallback.Tensor == "output.weight");
        Assert.All(result.Fallbacks, fallback =>
        {
            Assert.Equal(256, fallback.PlannedBlockSize);
            Assert.NotEqual(0, fallback.Columns % 256);
            Assert.Equal(fallback.PlannedType == "Q6_K" ? "Q8_0" : "Q5_0", fallback.FallbackType);
        });
        var down = result.Fallbacks.Single(fallback => fallback.Tensor == "blk.1.ffn_down.weight"); // use_more_bits: Q6_K
        Assert.Equal(("Q6_K", "Q8_0", 192L), (down.PlannedType, down.FallbackType, down.Columns));
        Assert.Equal("blk.1.ffn_down.weight: rows of 192 are not divisible by 256, required for Q6_K; using fallback quantization Q8_0",
            down.ToString());
    }

    [Fact]
    public void Errors_have_stable_kinds()
    {
        var source = ModelPaths.DefaultModelPath();
        var destination = Path.Combine(directory, "out.gguf");
        Assert.Equal(LlamaErrorKind.UnsupportedWeightType, Assert.Throws<LlamaDistException>(() =>
            ModelConverter.Convert(source, destination, "IQ2_XXS", false, 1, null, CancellationToken.None)).Kind);
        var unfit = Assert.Throws<LlamaDistException>(() =>
            ModelConverter.Convert(source, destination, "Q8_0", false, 1, null, CancellationToken.None));
        Assert.Equal(LlamaErrorKind.UnsupportedWeightType, unfit.Kind);
        Assert.Contains("not whole Q8_0 blocks", unfit.Message);
        Assert.False(File.Exists(destination));
        Assert.Equal(LlamaErrorKind.ModelNotFound, Assert.Throws<LlamaDistException>(() =>
            ModelConverter.Convert(Path.Combine(directory, "missing.gguf"), destination, "Q8_0", false, 1, null, CancellationToken.None)).Kind);
        Assert.Equal(LlamaErrorKind.InvalidArgument, Assert.Throws<LlamaDistException>(() =>
            ModelConverter.Convert(source, source, "Q8_0", true, 1, null, CancellationToken.None)).Kind);
        Assert.Equal(LlamaErrorKind.InvalidArgument, Assert.Throws<LlamaDistException>(() =>
            ModelConverter.Convert(source, Path.Combine(directory, "no", "out.gguf"), "Q8_0", true, 1, null, CancellationToken.None)).Kind);

        var notGguf = Path.Combine(directory, "text.gguf");
        File.WriteAllText(notGguf, "not a model");
        Assert.Equal(LlamaErrorKind.InvalidModelFile, Assert.Throws<LlamaDistException>(() =>
            ModelConverter.Convert(notGguf, destination, "Q8_0", false, 1, null, CancellationToken.None)).Kind);

        File.WriteAllText(destination, "existing");
        Assert.Equal(LlamaErrorKind.FileExists, Assert.Throws<LlamaDistException>(() =>
            ModelConverter.Convert(source, destination, "Q8_0", false, 1, null, CancellationToken.None)).Kind);
        Assert.Equal("existing", File.ReadAllText(destination));
        Assert.DoesNotContain(Directory.GetFiles(directory), f => f.EndsWith(".partial", StringComparison.Ordinal));
    }

    [Fact]
    public void Cancellation_leaves_no_destination()
    {
        var destination = Path.Combine(directory, "cancelled.gguf");
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => ModelConverter.Convert(ModelPaths.DefaultModelPath(), destination,
            "Q4_K_M", false, 1, null, cancellation.Token));
        Assert.False(File.Exists(destination));
    }
}
