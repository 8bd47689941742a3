using System.Management.Automation;
using LlamaDist.PowerShell.Completion;
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
    /// <summary>Cluster ids (wildcards allowed); every cluster of the session when omitted.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ClusterIdCompleter))]
    [SupportsWildcards]
    public string[]? Id { get; set; }

    protected override void ProcessRecord()
    {
        var clusters = SessionRegistry.Clusters;
        foreach (var id in Id ?? ["*"])
        {
            var pattern = new WildcardPattern(id, WildcardOptions.IgnoreCase);
            var matches = clusters.Where(cluster => pattern.IsMatch(cluster.Id)).ToArray();
            if (matches.Length == 0 && !WildcardPattern.ContainsWildcardCharacters(id))
            {
                WriteError(new ErrorRecord(new ItemNotFoundException($"No cluster with Id '{id}' in this session."),
                    ErrorIds.ClusterNotFound, ErrorCategory.ObjectNotFound, id));
            }
            foreach (var cluster in matches)
            {
                RunEngine(() => ClusterCmdletSupport.RefreshHealth(cluster, Cancellation), cluster.Id);
                WriteObject(cluster);
            }
        }
    }
}
