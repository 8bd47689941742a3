using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using LlamaDist.PowerShell.Commands;

namespace LlamaDist.PowerShell.Completion;

/// <summary>Names of the workers of this machine (Get-LlamaWorker / Stop-LlamaWorker -Name), endpoints as well, since -Name matches either.</summary>
public sealed class WorkerNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var workers = LocalWorkerListing.All().ToList();
        var names = workers.Select(worker => (worker.Name, $"{worker.Name}: worker at {worker.Endpoint} (process {worker.ProcessId})"));
        var endpoints = workers.Select(worker => (worker.Endpoint, $"{worker.Endpoint}: worker {worker.Name}"));
        return CompletionText.Matching(wordToComplete, names.Concat(endpoints));
    }
}
