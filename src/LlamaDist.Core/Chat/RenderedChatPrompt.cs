namespace LlamaDist.Core.Chat;

/// <summary>
/// A conversation rendered by a chat template: the prompt text, and where in it message contents lie, so a tokenizer can
/// parse special-token texts in the template's own text while leaving the same texts inside messages as plain text.
/// </summary>
public sealed class RenderedChatPrompt
{
    public RenderedChatPrompt(string text, IReadOnlyList<Range> contentRanges)
    {
        Text = text;
        ContentRanges = contentRanges;
    }

    public string Text { get; }

    /// <summary>Ranges of <see cref="Text"/> that came from message contents, in order and not overlapping.</summary>
    public IReadOnlyList<Range> ContentRanges { get; }
}
