using System.Management.Automation;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Lists the clusters this session created, each node's health asked anew.</para>
/// <para type="description">Every worker of each cluster is asked at once (the standard gRPC health service,
/// within the cluster's stage timeout): Health is Healthy, or Down with LastFailure saying what was observed. A
/// node that is down runs no layers until it answers again; then it takes its own back on the next prompt.</para>
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
            RunEngine(() => ClusterCmdletSupport.RefreshHealth(cluster, Cancellation), cluster.Id);
            WriteObject(cluster);
        }
    }
}
