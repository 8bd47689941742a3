using System.Management.Automation;
using LlamaDist.Engine.Models;
using LlamaDist.PowerShell.Completion;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Describes GGUF models: architecture, size, weight types, shape and tokenizer.</para>
/// <example><code>Get-ChildItem *.gguf | Get-LlamaModel | Sort-Object ParameterCount</code></example>
/// </summary>
[Cmdlet(VerbsCommon.Get, "LlamaModel")]
[OutputType(typeof(LlamaModelInfo))]
public sealed class GetLlamaModelCommand : LlamaCmdlet
{
    /// <summary>Model files; wildcards allowed. Takes FileInfo objects (FullName) from the pipeline.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "Model")]
    [ArgumentCompleter(typeof(ModelPathCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    protected override void ProcessRecord()
    {
        var paths = Path.Length == 0 ? [ModelPaths.DefaultModelPath()] : Path;
        foreach (var path in paths)
        {
            foreach (var resolved in ResolvePaths(path))
            {
                RunEngine(() => WriteObject(OutputMapping.ToModelInfo(ModelInspector.Inspect(resolved))), resolved);
            }
        }
    }

    private IEnumerable<string> ResolvePaths(string path)
    {
        if (!WildcardPattern.ContainsWildcardCharacters(path))
        {
            return [ResolveSinglePath(path)];
        }
        try
        {
            return GetResolvedProviderPathFromPSPath(path, out _);
        }
        catch (ItemNotFoundException exception)
        {
            WriteError(new ErrorRecord(exception, ErrorIds.For(Engine.Errors.LlamaErrorKind.ModelNotFound), ErrorCategory.ObjectNotFound, path));
            return [];
        }
    }
}
