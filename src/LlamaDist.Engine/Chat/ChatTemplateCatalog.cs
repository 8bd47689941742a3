using LlamaDist.Core.Chat;

namespace LlamaDist.Engine.Chat;

/// <summary>The chat-template families the engine renders, by llama.cpp's names, and renderings for callers that want only the text.</summary>
public static class ChatTemplateCatalog
{
    /// <summary>Every family name, sorted (what -ChatTemplate accepts).</summary>
    public static IReadOnlyList<string> Names => ChatTemplates.Names;

    /// <summary>
    /// The family <paramref name="templateName"/> names, else the one <paramref name="modelTemplate"/> is recognised as, else
    /// chatml when the model has no template (llama-server's fallback). Unknown names and templates throw
    /// LlamaDistException(UnsupportedChatTemplate).
    /// </summary>
    internal static ChatTemplateFamily Resolve(string? templateName, string? modelTemplate)
    {
        try
        {
            if (templateName is not null)
            {
                return ChatTemplates.FindByName(templateName)
                    ?? throw new UnsupportedChatTemplateException(
                        $"'{Bounded(templateName)}' is not a chat template name; use one of: {string.Join(", ", ChatTemplates.Names)}.");
            }

            return modelTemplate is null ? ChatTemplates.FindByName("chatml")! : ChatTemplates.Detect(modelTemplate);
        }
        catch (UnsupportedChatTemplateException exception)
        {
            throw new Errors.LlamaDistException(Errors.LlamaErrorKind.UnsupportedChatTemplate, exception.Message, "ChatTemplate", exception);
        }
    }

    /// <summary>The text <paramref name="templateName"/> (or the family <paramref name="modelTemplate"/> is recognised as) makes of <paramref name="messages"/>.</summary>
    public static string Render(IReadOnlyList<ChatTurn> messages, string? templateName, string? modelTemplate, bool addGenerationPrompt) =>
        Resolve(templateName, modelTemplate).Render(ChatPromptTokenizer.ToMessages(messages), addGenerationPrompt).Text;

    private static string Bounded(string text) => text.Length <= 60 ? text : text[..60] + "...";
}
