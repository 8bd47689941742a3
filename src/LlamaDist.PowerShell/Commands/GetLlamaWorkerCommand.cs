using System.Management.Automation;
using LlamaDist.Engine.Workers;
using LlamaDist.PowerShell.Completion;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Lists the workers of this machine, or asks workers anywhere for their status.</para>
/// <para type="description">Without -Endpoint: the workers this session started, and the worker executables of
/// this user that run on this machine (detached workers started from any session, and services run as this
/// user), as recorded in $XDG_STATE_HOME/llamadist/workers (~/.local/state/llamadist/workers;
/// %LOCALAPPDATA%\llamadist\workers on Windows). With -Endpoint: each worker's own report.</para>
/// <example><code>Get-LlamaWorker</code></example>
/// <example><code>Get-LlamaWorker | Where-Object Detached | Stop-LlamaWorker</code></example>
/// <example><code>Get-LlamaWorker -Endpoint pc1:50052 -TokenFile ./cluster.token | Stop-LlamaWorker -TokenFile ./cluster.token</code></example>
/// <example><code>Get-LlamaWorker -Endpoint pc1:50052, mac1:50052 | Format-List</code></example>
/// </summary>
[Cmdlet(VerbsCommon.Get, "LlamaWorker", DefaultParameterSetName = LocalSet)]
[OutputType(typeof(LlamaWorker), ParameterSetName = [LocalSet])]
[OutputType(typeof(LlamaWorkerStatus), ParameterSetName = [EndpointSet])]
public sealed class GetLlamaWorkerCommand : EndpointAccessCmdlet
{
    private const string LocalSet = "Session";

    /// <summary>Names or endpoints of workers of this machine (wildcards allowed).</summary>
    [Parameter(Position = 0, ParameterSetName = LocalSet)]
    [ArgumentCompleter(typeof(WorkerNameCompleter))]
    [SupportsWildcards]
    public string[]? Name { get; set; }

    /// <summary>host:port of workers to query, started here or anywhere.</summary>
    [Parameter(Mandatory = true, ParameterSetName = EndpointSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(WorkerEndpointCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Endpoint { get; set; } = [];

    protected override void ProcessRecord()
    {
        if (ParameterSetName == EndpointSet)
        {
            foreach (var endpoint in Endpoint)
            {
                RunEngine(() =>
                {
                    var access = AccessFor(endpoint);
                    WriteObject(OutputMapping.ToWorkerStatus(WorkerInspector.Query(endpoint, access, CancellationToken)));
                }, endpoint);
            }
            return;
        }

        var patterns = (Name ?? ["*"]).Select(name => new WildcardPattern(name, WildcardOptions.IgnoreCase)).ToArray();
        foreach (var worker in LocalWorkerListing.All())
        {
            if (patterns.Any(pattern => pattern.IsMatch(worker.Name) || pattern.IsMatch(worker.Endpoint)))
            {
                RefreshState(worker);
                WriteObject(worker);
            }
        }
    }

    /// <summary>A detached worker may have exited since it was started.</summary>
    internal static void RefreshState(LlamaWorker worker)
    {
        if (worker.Detached && worker.State == "Running" && !IsAlive(worker.ProcessId))
        {
            worker.State = "Stopped";
        }
    }

    private static bool IsAlive(int processId)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
