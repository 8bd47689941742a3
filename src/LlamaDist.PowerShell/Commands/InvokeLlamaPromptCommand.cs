using System.Management.Automation;
using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Generates text from a prompt with a GGUF model and returns the text with llama.cpp-style timings.</para>
/// <example><code>Invoke-LlamaPrompt -Model .\tiny.gguf -Prompt 'Once upon a time' -MaxTokens 32 -Temperature 0</code></example>
/// <example><code>'Hello', 'Bonjour' | Invoke-LlamaPrompt -Model .\tiny.gguf | Export-Csv runs.csv</code></example>
/// <example><code>Invoke-LlamaPrompt -Model .\tiny.gguf -Prompt 'Q: 2+2? A:' -Stop "`n", 'Q:'</code></example>
/// <example><code>Invoke-LlamaPrompt -Model .\tiny.gguf -Worker pc1:50052, mac1:50052 -Prompt 'Once upon a time'</code></example>
/// <example><code>$c = New-LlamaCluster .\tiny.gguf -Worker $w1, $w2; 1..10 | % { Invoke-LlamaPrompt -Cluster $c -Prompt "Story $_" }</code></example>
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "LlamaPrompt", DefaultParameterSetName = LocalSet)]
[OutputType(typeof(LlamaPromptResult))]
public sealed class InvokeLlamaPromptCommand : GenerationCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [AllowEmptyString]
    public string Prompt { get; set; } = "";

    protected override void ProcessRecord()
    {
        var request = CreateRequest(Prompt);
        RunEngine(() =>
        {
            GenerationResult result;
            try
            {
                result = LoadedModel switch
                {
                    LocalModel local => local.Generate(request, StreamTarget, CancellationToken),
                    ClusterModel cluster => cluster.Generate(request, StreamTarget, CancellationToken),
                    _ => throw new InvalidOperationException("No model is loaded."),
                };
            }
            catch (LlamaDistException exception) when (exception.PartialResult is { } partial)
            {
                // The node that failed is the target; what was generated before rides on the exception.
                EndStream();
                var output = OutputMapping.ToPromptResult<LlamaPromptResult>(ModelName, Prompt, partial);
                WriteError(new ErrorRecord(new LlamaPromptFailedException(exception.Message, output, exception),
                    ErrorIds.For(exception.Kind), ErrorIds.CategoryFor(exception.Kind), exception.Target));
                return;
            }
            EndStream();
            WriteObject(OutputMapping.ToPromptResult<LlamaPromptResult>(ModelName, Prompt, result));
        }, Prompt);
    }
}
