using System.Management.Automation;
using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Generates text from a prompt with a GGUF model and returns the text with llama.cpp-style timings.</para>
/// <para type="description">With -ThrottleLimit above 1, prompts from the pipeline are generated up to that many at a
/// time on the one loaded model or cluster, their steps evaluated together (each weight read once per step for all
/// of them); each result is the one the prompt gets alone, and results come out in input order.</para>
/// <example><code>Invoke-LlamaPrompt -Model .\tiny.gguf -Prompt 'Once upon a time' -MaxTokens 32 -Temperature 0</code></example>
/// <example><code>'Hello', 'Bonjour' | Invoke-LlamaPrompt -Model .\tiny.gguf | Export-Csv runs.csv</code></example>
/// <example><code>Invoke-LlamaPrompt -Model .\tiny.gguf -Prompt 'Q: 2+2? A:' -Stop "`n", 'Q:'</code></example>
/// <example><code>Invoke-LlamaPrompt -Model .\tiny.gguf -Worker pc1:50052, mac1:50052 -Prompt 'Once upon a time'</code></example>
/// <example><code>$c = New-LlamaCluster .\tiny.gguf -Worker $w1, $w2; 1..10 | % { Invoke-LlamaPrompt -Cluster $c -Prompt "Story $_" }</code></example>
/// <example><code>1..8 | ForEach-Object { "Story $_" } | Invoke-LlamaPrompt -Cluster $c -ThrottleLimit 8 -MaxTokens 64</code></example>
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "LlamaPrompt", DefaultParameterSetName = LocalSet)]
[OutputType(typeof(LlamaPromptResult))]
public sealed class InvokeLlamaPromptCommand : GenerationCmdlet
{
    /// <summary>Most prompts at once; each runs on a thread of its own (they block on their steps).</summary>
    public const int MaxThrottleLimit = 64;

    // Each run is a Task<GenerationResult>, held as Task so the cmdlet's fields never name engine types (the
    // engine loads into its own context when a method first uses it; see ModuleInitializer).
    private readonly Queue<(string Prompt, Task Run)> running = new();

    /// <summary>The prompt text; pipeline strings, or the Prompt property of piped objects (Import-Csv rows), one run each.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [AllowEmptyString]
    public string Prompt { get; set; } = "";

    /// <summary>Prompts from the pipeline generated at the same time, decoded together (1: one after another).</summary>
    [Parameter]
    [ValidateRange(1, MaxThrottleLimit)]
    public int ThrottleLimit { get; set; } = 1;

    protected override void BeginProcessing()
    {
        if (ThrottleLimit > 1 && Stream)
        {
            ThrowTerminatingError(new ErrorRecord(
                new ArgumentException("-Stream writes one prompt's text as it comes; use -ThrottleLimit 1 with it."),
                ErrorIds.For(LlamaErrorKind.InvalidArgument), ErrorCategory.InvalidArgument, ThrottleLimit));
        }
        base.BeginProcessing();
    }

    protected override void ProcessRecord()
    {
        var request = CreateRequest(Prompt);
        if (ThrottleLimit == 1)
        {
            RunEngine(() =>
            {
                GenerationResult result;
                try
                {
                    result = Generate(request, StreamTarget);
                }
                catch (LlamaDistException exception) when (exception.PartialResult is not null)
                {
                    EndStream();
                    WritePartial(Prompt, exception);
                    return;
                }
                EndStream();
                WriteResult(Prompt, result);
            }, Prompt);
            return;
        }

        // Progress is written from the pipeline thread only: prompts generated together report none.
        request = request with { PromptProgress = null };
        running.Enqueue((Prompt, Task.Factory.StartNew(() => Generate(request, onText: null), CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default)));
        while (running.Count >= ThrottleLimit)
        {
            WriteOldest();
        }
    }

    protected override void EndProcessing()
    {
        while (running.Count > 0)
        {
            WriteOldest();
        }
    }

    private GenerationResult Generate(GenerationRequest request, Action<string>? onText) => LoadedModel switch
    {
        LocalModel local => local.Generate(request, onText, CancellationToken),
        ClusterModel cluster => cluster.Generate(request, onText, CancellationToken),
        _ => throw new InvalidOperationException("No model is loaded."),
    };

    /// <summary>Waits for the earliest prompt still running and writes its result (or its error).</summary>
    private void WriteOldest()
    {
        var (prompt, run) = running.Dequeue();
        RunEngine(() =>
        {
            GenerationResult result;
            try
            {
                result = ((Task<GenerationResult>)run).GetAwaiter().GetResult();
            }
            catch (LlamaDistException exception) when (exception.PartialResult is not null)
            {
                WritePartial(prompt, exception);
                return;
            }
            WriteResult(prompt, result);
        }, prompt);
    }

    private void WriteResult(string prompt, GenerationResult result) =>
        WriteObject(OutputMapping.ToPromptResult<LlamaPromptResult>(ModelName, prompt, result));

    /// <summary>A prompt that could not go on: the node that failed is the target; what was generated before rides on the error.</summary>
    private void WritePartial(string prompt, LlamaDistException exception)
    {
        var output = OutputMapping.ToPromptResult<LlamaPromptResult>(ModelName, prompt, exception.PartialResult!);
        WriteError(new ErrorRecord(new LlamaPromptFailedException(exception.Message, output, exception),
            ErrorIds.For(exception.Kind), ErrorIds.CategoryFor(exception.Kind), exception.Target));
    }

    protected override void DisposeResources()
    {
        // Stopped or failed with prompts still running: they end at their next token, before the model goes.
        if (running.Count > 0)
        {
            StopProcessing();
            try
            {
                Task.WaitAll(running.Select(entry => entry.Run).ToArray());
            }
            catch (AggregateException)
            {
                // Their outcomes no longer have anywhere to go.
            }
            running.Clear();
        }
        base.DisposeResources();
    }
}
