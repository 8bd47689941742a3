namespace LlamaDist.Core.Chat;

/// <summary>A chat template (or template name) that matches none of the families llama.cpp recognises.</summary>
public sealed class UnsupportedChatTemplateException : Exception
{
    public UnsupportedChatTemplateException(string message) : base(message)
    {
    }
}
