namespace LlamaDist.Core.Tests.Model;

/// <summary>Paths of model files the model tests use, and a scratch directory for generated ones.</summary>
internal static class ModelTestFiles
{
    /// <summary>The embedded 1-layer llama (embd 8, 2 heads of 4, ffn 32, 32000-token vocabulary, F16 matrices).</summary>
    public static string EmbeddedModel => Path.Combine(AppContext.BaseDirectory, "Models", "llama-2-tiny-random.gguf");
}
