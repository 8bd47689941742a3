using LlamaDist.Engine.TestModels;

namespace LlamaDist.Engine.Tests.TestModels;

/// <summary>
/// Synthetic models of every architecture New-LlamaTestModel writes, for tests that check them against llama.cpp:
/// written on first use into a per-process temporary folder (deleted at exit), one file per
/// (architecture, preset, weight type), all with seed 11 and the embedded model's SPM vocabulary.
/// </summary>
public static class ArchitectureModels
{
    private const int Seed = 11;

    private static readonly object Gate = new();
    private static readonly Dictionary<string, string> Written = new(StringComparer.Ordinal);
    private static readonly Lazy<string> Directory = new(CreateDirectory);

    /// <summary>Every architecture name (TestModelFactory.Architectures): Llama, Llama3, Qwen2, Qwen3, Phi3, Phi35, Gemma2, Mistral.</summary>
    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var architecture in TestModelFactory.Architectures)
            data.Add(architecture);
        return data;
    }

    /// <summary>The path of the (architecture, preset, type) model, written the first time it is asked for.</summary>
    public static string Get(string architecture, string preset = "Tiny", string type = "F32")
    {
        var name = $"{architecture}-{preset}-{type}";
        lock (Gate)
        {
            if (!Written.TryGetValue(name, out var path))
            {
                path = Path.Combine(Directory.Value, name + ".gguf");
                TestModelFactory.Create(path, preset, type, Seed, vocabularyFrom: null, overwrite: true,
                    architecture: architecture);
                Written.Add(name, path);
            }
            return path;
        }
    }

    private static string CreateDirectory()
    {
        var directory = ProcessTempDirectory.Create("llamadist-test-architectures");
        return directory;
    }
}
