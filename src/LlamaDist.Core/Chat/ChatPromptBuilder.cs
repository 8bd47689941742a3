using System.Text;

namespace LlamaDist.Core.Chat;

/// <summary>Collects a rendering: template text (may hold special tokens) and message content (never parsed as special).</summary>
internal sealed class ChatPromptBuilder
{
    private readonly StringBuilder text = new();
    private readonly List<Range> contentRanges = [];

    public ChatPromptBuilder Template(string value)
    {
        text.Append(value);
        return this;
    }

    public ChatPromptBuilder Content(string value)
    {
        if (value.Length > 0)
        {
            contentRanges.Add(new Range(text.Length, text.Length + value.Length));
            text.Append(value);
        }

        return this;
    }

    public RenderedChatPrompt Build() => new(text.ToString(), contentRanges.ToArray());
}
