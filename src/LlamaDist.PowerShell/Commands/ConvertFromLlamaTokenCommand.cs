using System.Management.Automation;
using LlamaDist.Engine.Tokens;
using LlamaDist.PowerShell.Completion;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Turns token ids back into text with a model's tokenizer (llama_detokenize).</para>
/// <example><code>'Hello world' | ConvertTo-LlamaToken -Model ./llama3.gguf | ConvertFrom-LlamaToken -Model ./llama3.gguf</code></example>
/// </summary>
[Cmdlet(VerbsData.ConvertFrom, "LlamaToken")]
[OutputType(typeof(string))]
public sealed class ConvertFromLlamaTokenCommand : LlamaCmdlet
{
    private readonly List<int> ids = [];
    private ModelTokenizer? tokenizer;

    [Parameter(Mandatory = true)]
    [ArgumentCompleter(typeof(ModelPathCompleter))]
    [ValidateNotNullOrEmpty]
    public string Model { get; set; } = "";

    /// <summary>Token ids; ids from the pipeline are gathered and decoded together, so a character split across
    /// tokens comes out whole.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [AllowEmptyCollection]
    public int[] Id { get; set; } = [];

    /// <summary>Write control tokens (BOS, "&lt;|eot_id|&gt;" ...) as their text instead of leaving them out.</summary>
    [Parameter]
    public SwitchParameter RenderSpecial { get; set; }

    protected override void BeginProcessing()
    {
        string path = ResolveSinglePath(Model);
        RunEngine(() => tokenizer = ModelTokenizer.Load(path), path, terminating: true);
    }

    protected override void ProcessRecord() => ids.AddRange(Id);

    protected override void EndProcessing() =>
        RunEngine(() => WriteObject(tokenizer!.Detokenize(ids, RenderSpecial)), Model);
}
