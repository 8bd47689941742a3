using LlamaDist.Engine.Generation;

namespace LlamaDist.Engine.Chat;

/// <summary>A conversation in, the assistant's reply out: render with the template, tokenize, generate.</summary>
internal static class ChatGeneration
{
    public static ChatResult Run(IGenerationModel model, string? modelTemplate, ChatRequest request, Action<string>? onText, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var messages = ChatPromptTokenizer.ToMessages(request.Messages);
        var family = ChatTemplateCatalog.Resolve(request.TemplateName, modelTemplate);
        var rendered = family.Render(messages, addGenerationPrompt: true);
        var tokens = ChatPromptTokenizer.Tokenize(model.Tokenizer, rendered);
        var generation = new GenerationLoop(model).Run(
            request.Generation with { Prompt = rendered.Text, PromptTokenIds = tokens }, onText, cancellationToken);
        return new ChatResult { TemplateName = family.Name, RenderedPrompt = rendered.Text, Generation = generation };
    }
}
