namespace LlamaDist.PowerShell.Output;

/// <summary>
/// Invoke-LlamaChat's output: the whole conversation (its Messages end with the assistant's Reply), the template
/// that rendered it, and Invoke-LlamaPrompt's figures, where Prompt is the rendered conversation and Text the reply.
/// Piped back into Invoke-LlamaChat it is continued.
/// </summary>
public sealed class LlamaChatResult : LlamaPromptResult
{
    /// <summary>The conversation, oldest first, ending with the reply.</summary>
    public LlamaChatMessage[] Messages { get; internal set; } = [];

    /// <summary>The template family that rendered the prompt (llama.cpp's name, e.g. chatml, llama3).</summary>
    public string Template { get; internal set; } = "";

    /// <summary>The assistant's reply (the same as Text).</summary>
    public string Reply => Text;
}
