namespace LlamaDist.Core.Chat;

/// <summary>
/// One family of chat templates: its llama.cpp name (LLM_CHAT_TEMPLATES), how a template string is recognised as it
/// (a test applied in <see cref="ChatTemplates.Families"/> order, first match wins) and how it renders a conversation.
/// </summary>
public sealed class ChatTemplateFamily
{
    private readonly Func<string, bool> recognises;
    private readonly Action<ChatPromptBuilder, IReadOnlyList<ChatMessage>, bool> render;

    internal ChatTemplateFamily(string name, Func<string, bool> recognises, Action<ChatPromptBuilder, IReadOnlyList<ChatMessage>, bool> render)
    {
        Name = name;
        this.recognises = recognises;
        this.render = render;
    }

    /// <summary>The name llama.cpp gives the family (e.g. "chatml", "llama3", "mistral-v7").</summary>
    public string Name { get; }

    /// <summary>Whether llama.cpp's heuristics, at this family's place in the detection order, pick it for <paramref name="template"/>.</summary>
    internal bool Recognises(string template) => recognises(template);

    /// <summary>
    /// The prompt for <paramref name="messages"/>; with <paramref name="addGenerationPrompt"/> the opening of an assistant
    /// turn follows where the family has one (llama.cpp's add_ass).
    /// </summary>
    public RenderedChatPrompt Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var builder = new ChatPromptBuilder();
        render(builder, messages, addGenerationPrompt);
        return builder.Build();
    }

    public override string ToString() => Name;
}
