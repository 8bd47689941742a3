using LlamaDist.Engine.Generation;

namespace LlamaDist.Engine.Chat;

/// <summary>A conversation to continue: its messages (the last usually the user's), the template and how to generate.</summary>
public sealed class ChatRequest
{
    /// <summary>The conversation so far, oldest first.</summary>
    public required IReadOnlyList<ChatTurn> Messages { get; init; }

    /// <summary>A template family name (llama.cpp's, e.g. "chatml"); null detects it from the model's tokenizer.chat_template.</summary>
    public string? TemplateName { get; init; }

    /// <summary>Sampling, limits and stop strings; its Prompt is replaced by the rendered conversation.</summary>
    public GenerationRequest Generation { get; init; } = new() { Prompt = "" };

    /// <summary>Most messages, and the most characters in all of them: bounds on what one request may render.</summary>
    public const int MaxMessages = 10_000;
    public const int MaxTotalCharacters = 16 * 1024 * 1024;
}
