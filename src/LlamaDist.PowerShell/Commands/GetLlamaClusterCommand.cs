using System.Management.Automation;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Lists the clusters this session created.</para>
/// <example><code>(Get-LlamaCluster).Nodes | Format-Table</code></example>
/// </summary>
[Cmdlet(VerbsCommon.Get, "LlamaCluster")]
[OutputType(typeof(LlamaCluster))]
public sealed class GetLlamaClusterCommand : LlamaCmdlet
{
    [Parameter(Position = 0)]
    [SupportsWildcards]
    public string[]? Id { get; set; }

    protected override void ProcessRecord()
    {
        var patterns = (Id ?? ["*"]).Select(id => new WildcardPattern(id, WildcardOptions.IgnoreCase)).ToArray();
        foreach (var cluster in SessionRegistry.Clusters.Where(c => patterns.Any(p => p.IsMatch(c.Id))))
        {
            WriteObject(cluster);
        }
    }
}
