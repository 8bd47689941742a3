using System.Text.Json;

namespace LlamaDist.Engine.Tests.Chat;

/// <summary>The chat templates under tests/Data/chat-templates: real ones from tokenizer configs and published ones by family.</summary>
internal static class ChatTemplateData
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "Data", "chat-templates");

    /// <summary>tokenizer_config.json's chat_template for "llama3" or "qwen3".</summary>
    public static string FromTokenizerConfig(string model)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, $"{model}.tokenizer_config.json")));
        return document.RootElement.GetProperty("chat_template").GetString()!;
    }

    /// <summary>(source model, llama.cpp family, template) for every published template.</summary>
    public static IEnumerable<(string Source, string Family, string Template)> Published()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "published-templates.json")));
        foreach (var entry in document.RootElement.GetProperty("templates").EnumerateArray())
        {
            yield return (entry.GetProperty("source").GetString()!, entry.GetProperty("family").GetString()!, entry.GetProperty("template").GetString()!);
        }
    }
}
