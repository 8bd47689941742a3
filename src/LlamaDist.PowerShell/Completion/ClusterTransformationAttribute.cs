using System.Collections;
using System.Management.Automation;
using LlamaDist.PowerShell.Commands;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Completion;

/// <summary>
/// Lets -Cluster take a cluster's Id as well as the object ("-Cluster 2af09e3c781b", as Tab completes it): a string
/// becomes the session's cluster with that Id; anything else is left to ordinary binding.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class ClusterTransformationAttribute : ArgumentTransformationAttribute
{
    public override object? Transform(EngineIntrinsics engineIntrinsics, object? inputData)
    {
        var value = inputData is PSObject wrapped ? wrapped.BaseObject : inputData;
        return value switch
        {
            string id => Find(id),
            IList list when list.Count > 0 && list.Cast<object>().Any(item => (item is PSObject p ? p.BaseObject : item) is string) =>
                list.Cast<object>().Select(item => (item is PSObject p ? p.BaseObject : item) is string id ? Find(id) : item).ToArray(),
            _ => inputData,
        };
    }

    private static LlamaCluster Find(string id) =>
        SessionRegistry.Clusters.FirstOrDefault(cluster => cluster.Id.Equals(id, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentTransformationMetadataException(
            $"No cluster with Id '{id}' in this session; Get-LlamaCluster lists them.");
}
