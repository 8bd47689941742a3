using System.Management.Automation;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Releases a cluster: every worker frees the layers and caches it held for it.</para>
/// <example><code>Get-LlamaCluster | Remove-LlamaCluster</code></example>
/// </summary>
[Cmdlet(VerbsCommon.Remove, "LlamaCluster", SupportsShouldProcess = true)]
public sealed class RemoveLlamaClusterCommand : LlamaCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    public LlamaCluster[] Cluster { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var cluster in Cluster)
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
}
