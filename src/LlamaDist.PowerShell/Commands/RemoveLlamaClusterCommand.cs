using System.Management.Automation;
using LlamaDist.PowerShell.Completion;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Releases a cluster: every worker frees the layers and caches it held for it.</para>
/// <example><code>Get-LlamaCluster | Remove-LlamaCluster</code></example>
/// <example><code>Remove-LlamaCluster -Id 2af09e3c781b -WhatIf</code></example>
/// </summary>
[Cmdlet(VerbsCommon.Remove, "LlamaCluster", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium,
    DefaultParameterSetName = ClusterSet)]
public sealed class RemoveLlamaClusterCommand : LlamaCmdlet
{
    private const string ClusterSet = "Cluster";
    private const string IdSet = "Id";

    /// <summary>Clusters from New-LlamaCluster or Get-LlamaCluster (or their Ids); binds the Cluster property of piped objects.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = ClusterSet)]
    [ClusterTransformation]
    [ArgumentCompleter(typeof(ClusterIdCompleter))]
    public LlamaCluster[] Cluster { get; set; } = [];

    /// <summary>Ids of this session's clusters (wildcards allowed); binds the Id of piped objects.</summary>
    [Parameter(Mandatory = true, ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(ClusterIdCompleter))]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Id { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var cluster in ParameterSetName == IdSet ? Match(Id) : Cluster)
        {
            if (!ShouldProcess($"cluster {cluster.Id} ({cluster.Model} on {string.Join(", ", cluster.Nodes.Select(n => n.Endpoint))})", "Remove LlamaDist cluster"))
            {
                continue;
            }
            cluster.Handle?.Dispose();
            cluster.Handle = null;
            cluster.State = "Removed";
            SessionRegistry.Remove(cluster);
        }
    }

    private IEnumerable<LlamaCluster> Match(string[] ids)
    {
        var clusters = SessionRegistry.Clusters;
        foreach (var id in ids)
        {
            var pattern = new WildcardPattern(id, WildcardOptions.IgnoreCase);
            var matches = clusters.Where(cluster => pattern.IsMatch(cluster.Id)).ToArray();
            if (matches.Length == 0 && !WildcardPattern.ContainsWildcardCharacters(id))
            {
                WriteError(new ErrorRecord(new ItemNotFoundException($"No cluster with Id '{id}' in this session."),
                    ErrorIds.ClusterNotFound, ErrorCategory.ObjectNotFound, id));
            }
            foreach (var match in matches)
            {
                yield return match;
            }
        }
    }
}
