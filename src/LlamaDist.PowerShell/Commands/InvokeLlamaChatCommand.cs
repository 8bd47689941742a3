using System.Management.Automation;
using LlamaDist.Engine.Chat;
using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Models;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Sends a message to a chat model: renders the conversation with the model's chat template (as llama.cpp does), generates the reply and returns the conversation, which pipes back in to continue it.</para>
/// <example><code>$c = Invoke-LlamaChat -Model .\qwen.gguf -Message 'Hi!' -SystemPrompt 'Answer briefly.'; $c.Reply</code></example>
/// <example><code>$c = $c | Invoke-LlamaChat -Message 'And then?'</code></example>
/// <example><code>Invoke-LlamaChat -Model .\model.gguf -ChatTemplate chatml -Message 'Hello' -Stop '###' -MaxTokens 64</code></example>
/// <example><code>Invoke-LlamaChat -Cluster $cluster -Conversation @(@{ Role = 'user'; Content = 'Hi' }, @{ Role = 'assistant'; Content = 'Hello!' }) -Message 'How are you?'</code></example>
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "LlamaChat", DefaultParameterSetName = LocalSet)]
[OutputType(typeof(LlamaChatResult))]
public sealed class InvokeLlamaChatCommand : GenerationCmdlet
{
    /// <summary>The user's message: the turn the model answers.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [AllowEmptyString]
    public string Message { get; set; } = "";

    /// <summary>
    /// The conversation to continue: an Invoke-LlamaChat result (piped in, its Messages bind here), or messages with
    /// Role and Content.
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Messages")]
    public object? Conversation { get; set; }

    /// <summary>The system message; replaces the conversation's own when it has one.</summary>
    [Parameter]
    public string? SystemPrompt { get; set; }

    /// <summary>The template family (llama.cpp's names); detected from the model's tokenizer.chat_template when omitted.</summary>
    [Parameter]
    [ValidateSet("bailing", "chatglm3", "chatglm4", "chatml", "command-r", "deepseek", "deepseek2", "deepseek3",
        "exaone3", "exaone4", "falcon3", "gemma", "gigachat", "glmedge", "gpt-oss", "granite", "hunyuan-dense",
        "hunyuan-moe", "kimi-k2", "llama2", "llama2-sys", "llama2-sys-bos", "llama2-sys-strip", "llama3", "llama4",
        "megrez", "minicpm", "mistral-v1", "mistral-v3", "mistral-v3-tekken", "mistral-v7", "mistral-v7-tekken",
        "monarch", "openchat", "orion", "phi3", "phi4", "rwkv-world", "seed_oss", "smolvlm", "vicuna", "vicuna-orca",
        "yandex", "zephyr")]
    public string? ChatTemplate { get; set; }

    protected override void ProcessRecord()
    {
        List<LlamaChatMessage> history;
        try
        {
            history = ChatConversationInput.Read(Conversation);
        }
        catch (ArgumentException exception)
        {
            WriteError(new ErrorRecord(exception, "InvalidConversation", ErrorCategory.InvalidArgument, Conversation));
            return;
        }

        if (SystemPrompt is not null)
        {
            history.RemoveAll(message => message.Role == "system");
            history.Insert(0, new LlamaChatMessage { Role = "system", Content = SystemPrompt });
        }
        history.Add(new LlamaChatMessage { Role = "user", Content = Message });

        var request = new ChatRequest
        {
            Messages = history.Select(message => new ChatTurn(message.Role, message.Content)).ToArray(),
            TemplateName = ChatTemplate,
            Generation = CreateRequest(Message),
        };

        RunEngine(() =>
        {
            var result = LoadedModel switch
            {
                LocalModel local => local.Chat(request, StreamTarget, CancellationToken),
                ClusterModel cluster => cluster.Chat(request, StreamTarget, CancellationToken),
                _ => throw new InvalidOperationException("No model is loaded."),
            };
            EndStream();
            var output = OutputMapping.ToPromptResult<LlamaChatResult>(ModelName, result.RenderedPrompt, result.Generation);
            history.Add(new LlamaChatMessage { Role = "assistant", Content = result.Generation.Text });
            output.Messages = [.. history];
            output.Template = result.TemplateName;
            WriteObject(output);
        }, Message);
    }
}
