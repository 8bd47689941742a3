using LlamaDist.Engine.Generation;

namespace LlamaDist.Engine.Chat;

/// <summary>The assistant's reply to a conversation, with how the prompt was built.</summary>
public sealed class ChatResult
{
    /// <summary>The template family used (llama.cpp's name).</summary>
    public required string TemplateName { get; init; }

    /// <summary>The conversation as the template rendered it, the text the prompt tokens came from.</summary>
    public required string RenderedPrompt { get; init; }

    /// <summary>The reply and its timings; Generation.Text is the assistant's message.</summary>
    public required GenerationResult Generation { get; init; }
}
