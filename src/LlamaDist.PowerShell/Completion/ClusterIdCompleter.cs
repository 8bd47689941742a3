using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using LlamaDist.PowerShell.Commands;

namespace LlamaDist.PowerShell.Completion;

/// <summary>Ids of the clusters this session created (Get-/Remove-LlamaCluster -Id, -Cluster of the cluster-capable cmdlets).</summary>
public sealed class ClusterIdCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        CompletionText.Matching(wordToComplete, SessionRegistry.Clusters.Select(cluster =>
            (cluster.Id, $"{cluster.Id}: {cluster.Model} on {string.Join(", ", cluster.Nodes.Select(node => node.Endpoint))}")));
}
