using System.Management.Automation;
using LlamaDist.Engine.Tokens;
using LlamaDist.PowerShell.Completion;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Tokenizes text with a model's tokenizer, like llama-tokenize: writes the token ids.</para>
/// <example><code>'Hello world' | ConvertTo-LlamaToken -Model ./llama3.gguf -AddSpecial</code></example>
/// <example><code>ConvertTo-LlamaToken -Model ./qwen3.gguf -Text '&lt;|im_start|&gt;user' -ParseSpecial -Detailed</code></example>
/// </summary>
[Cmdlet(VerbsData.ConvertTo, "LlamaToken")]
[OutputType(typeof(int), typeof(LlamaToken))]
public sealed class ConvertToLlamaTokenCommand : LlamaCmdlet
{
    private ModelTokenizer? tokenizer;

    [Parameter(Mandatory = true)]
    [ArgumentCompleter(typeof(ModelPathCompleter))]
    [ValidateNotNullOrEmpty]
    public string Model { get; set; } = "";

    /// <summary>The text to tokenize; each pipeline string is tokenized on its own.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [AllowEmptyString]
    public string Text { get; set; } = "";

    /// <summary>Add BOS/EOS as the model's add_bos_token/add_eos_token say (llama_tokenize's add_special).</summary>
    [Parameter]
    public SwitchParameter AddSpecial { get; set; }

    /// <summary>Turn special-token text in the input ("&lt;|eot_id|&gt;") into the special token's id; without it
    /// such text is tokenized as ordinary text.</summary>
    [Parameter]
    public SwitchParameter ParseSpecial { get; set; }

    /// <summary>Write objects with Id and Piece instead of bare ids.</summary>
    [Parameter]
    public SwitchParameter Detailed { get; set; }

    protected override void BeginProcessing()
    {
        string path = ResolveSinglePath(Model);
        RunEngine(() => tokenizer = ModelTokenizer.Load(path), path, terminating: true);
    }

    protected override void ProcessRecord()
    {
        RunEngine(() =>
        {
            if (Detailed)
            {
                foreach (TokenPiece token in tokenizer!.TokenizeDetailed(Text, AddSpecial, ParseSpecial))
                {
                    WriteObject(new LlamaToken { Id = token.Id, Piece = token.Piece });
                }
            }
            else
            {
                WriteObject(tokenizer!.Tokenize(Text, AddSpecial, ParseSpecial), enumerateCollection: true);
            }
        }, Text);
    }
}
