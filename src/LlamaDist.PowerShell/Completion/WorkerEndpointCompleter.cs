using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using LlamaDist.PowerShell.Commands;

namespace LlamaDist.PowerShell.Completion;

/// <summary>
/// Worker endpoints this session knows: the workers it started, the worker processes of this user on this machine
/// (recorded in the state folder), and the nodes of its clusters (remote workers included).
/// </summary>
public sealed class WorkerEndpointCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        CompletionText.Matching(wordToComplete, KnownEndpoints());

    internal static IEnumerable<(string Value, string ToolTip)> KnownEndpoints()
    {
        foreach (var worker in LocalWorkerListing.All())
        {
            yield return (worker.Endpoint, $"{worker.Endpoint}: worker {worker.Name} (process {worker.ProcessId}{(worker.Detached ? ", detached" : "")})");
        }
        foreach (var cluster in SessionRegistry.Clusters)
        {
            foreach (var node in cluster.Nodes.Where(node => node.Endpoint != "local"))
            {
                yield return (node.Endpoint, $"{node.Endpoint}: node of cluster {cluster.Id} (layers {node.Layers})");
            }
        }
    }
}
