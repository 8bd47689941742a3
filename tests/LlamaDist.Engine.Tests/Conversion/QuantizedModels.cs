using System.Collections.Concurrent;
using LLama.Native;
using LlamaDist.Core.Conversion;
using LlamaDist.Engine.Conversion;
using LlamaDist.Engine.TestModels;
using LlamaDist.Engine.Tests.LlamaCpp;
using LlamaDist.Engine.Tests.TestModels;

namespace LlamaDist.Engine.Tests.Conversion;

/// <summary>
/// A Small-preset F32 synthetic model and its conversions, written once per test run: by llama.cpp's own
/// quantizer (llama_model_quantize through LLamaSharp, default llama-quantize parameters: output tensor quantized,
/// no importance matrix) and by our <see cref="ModelConverter"/>.
/// </summary>
public static class QuantizedModels
{
    private static readonly Lazy<string> Directory = new(() =>
    {
        var directory = ProcessTempDirectory.Create("llamadist-quantize");
        return directory;
    });

    private static readonly Lazy<string> Source = new(() =>
    {
        var path = Path.Combine(Directory.Value, "Small-F32.gguf");
        TestModelFactory.Create(path, "Small", "F32", seed: 11, vocabularyFrom: null, overwrite: true);
        return path;
    });

    private static readonly ConcurrentDictionary<string, Lazy<string>> LlamaCppFiles = new();
    private static readonly ConcurrentDictionary<string, Lazy<string>> OurFiles = new();

    /// <summary>The F32 source every conversion starts from.</summary>
    public static string SourcePath => Source.Value;

    /// <summary>The source quantized by llama.cpp into <paramref name="preset"/> (a <see cref="ModelConverter.Types"/> name).</summary>
    public static string LlamaCpp(string preset) => LlamaCppFiles.GetOrAdd(preset, p => new Lazy<string>(() =>
    {
        var destination = Path.Combine(Directory.Value, $"llamacpp-{p}.gguf");
        LlamaCppOracle.SilenceLogging();
        NativeApi.llama_empty_call(); // loads the native library (quantizing alone does not trigger the loader)
        // llama_model_quantize with llama-quantize's defaults (LLamaQuantizer.Quantize would refuse BF16 and
        // leave output.weight unquantized by default).
        var parameters = LLamaModelQuantizeParams.Default();
        parameters.ftype = (LLamaFtype)QuantizationPresets.FileType(QuantizationPresets.Parse(p));
        parameters.nthread = 2;
        parameters.allow_requantize = true;
        parameters.quantize_output_tensor = true;
        var status = NativeApi.llama_model_quantize(SourcePath, destination, ref parameters);
        Assert.True(status == 0, $"llama.cpp failed to quantize to {p} (status {status})");
        return destination;
    })).Value;

    /// <summary>The source converted by our converter into <paramref name="preset"/>.</summary>
    public static string Ours(string preset) => OurFiles.GetOrAdd(preset, p => new Lazy<string>(() =>
    {
        var destination = Path.Combine(Directory.Value, $"ours-{p}.gguf");
        ModelConverter.Convert(SourcePath, destination, p, overwrite: true, threads: 2, progress: null, CancellationToken.None);
        return destination;
    })).Value;
}
