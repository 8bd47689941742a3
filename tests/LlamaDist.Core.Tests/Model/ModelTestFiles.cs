namespace LlamaDist.Core.Tests.Model;

/// <summary>Paths of model files the model tests use, and a scratch directory for generated ones.</summary>
internal static class ModelTestFiles
{
    /// <summary>The embedded 1-layer llama (embd 8, 2 heads of 4, ffn 32, 32000-token vocabulary, F16 matrices).</summary>
    public static string EmbeddedModel => Path.Combine(AppContext.BaseDirectory, "Models", "llama-2-tiny-random.gguf");
}

/// <summary>A fresh directory under the temp folder, deleted with its files on Dispose.</summary>
internal sealed class ScratchDirectory : IDisposable
{
    public ScratchDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "llamadist-model-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A file still mapped after a failed test must not hide that failure.
        }
    }
}
