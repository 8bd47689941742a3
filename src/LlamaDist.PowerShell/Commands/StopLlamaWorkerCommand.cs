using System.Management.Automation;
using LlamaDist.Engine.Workers;
using LlamaDist.PowerShell.Completion;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Stops workers: those of this machine (embedded or detached), or any worker by endpoint.</para>
/// <para type="description">Worker objects and -Name stop the workers this session started and the detached
/// workers of this user on this machine (SIGTERM, then a kill after 10 s; only the very process that was started,
/// checked by its start time). -Endpoint asks a worker anywhere to shut down gracefully with the Shutdown call,
/// authenticated with the cluster token; a worker on this machine is then watched until it has exited.</para>
/// <example><code>Get-LlamaWorker | Stop-LlamaWorker</code></example>
/// <example><code>Stop-LlamaWorker -Name test* -WhatIf</code></example>
/// <example><code>Stop-LlamaWorker -Endpoint pc1:50052 -TokenFile ./cluster.token</code></example>
/// <example><code>Get-LlamaWorker -Endpoint pc1:50052, pc2:50052 | Stop-LlamaWorker</code></example>
/// </summary>
[Cmdlet(VerbsLifecycle.Stop, "LlamaWorker", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = WorkerSet)]
[OutputType(typeof(LlamaWorker))]
public sealed class StopLlamaWorkerCommand : EndpointAccessCmdlet
{
    private const string WorkerSet = "Worker";
    private const string NameSet = "Name";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = WorkerSet)]
    public LlamaWorker[] Worker { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = NameSet)]
    [ArgumentCompleter(typeof(WorkerNameCompleter))]
    [SupportsWildcards]
    public string[] Name { get; set; } = [];

    /// <summary>host:port (or https://host:port) of workers to ask to shut down; binds the Endpoint of piped status objects.</summary>
    [Parameter(Mandatory = true, ParameterSetName = EndpointSet, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(WorkerEndpointCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Endpoint { get; set; } = [];

    /// <summary>Write the stopped workers to the pipeline (worker objects and -Name).</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == EndpointSet)
        {
            foreach (var endpoint in Endpoint)
            {
                if (ShouldProcess(endpoint, "Shut down LlamaDist worker"))
                {
                    StopByEndpoint(endpoint);
                }
            }
            return;
        }
        var targets = ParameterSetName == NameSet ? Match(Name) : Worker;
        foreach (var worker in targets)
        {
            if (!ShouldProcess($"{worker.Name} at {worker.Endpoint} (process {worker.ProcessId})", "Stop LlamaDist worker"))
            {
                continue;
            }
            Stop(worker);
            if (PassThru)
            {
                WriteObject(worker);
            }
        }
    }

    private IEnumerable<LlamaWorker> Match(string[] names)
    {
        foreach (var name in names)
        {
            var pattern = new WildcardPattern(name, WildcardOptions.IgnoreCase);
            var matches = LocalWorkerListing.All().Where(w => pattern.IsMatch(w.Name) || pattern.IsMatch(w.Endpoint)).ToArray();
            if (matches.Length == 0 && !WildcardPattern.ContainsWildcardCharacters(name))
            {
                WriteError(new ErrorRecord(new ItemNotFoundException($"No worker named '{name}' runs on this machine."),
                    ErrorIds.WorkerNotFound, ErrorCategory.ObjectNotFound, name));
            }
            foreach (var match in matches)
            {
                yield return match;
            }
        }
    }

    private void StopByEndpoint(string endpoint)
    {
        RunEngine(() =>
        {
            var access = AccessFor(endpoint);
            var result = WorkerShutdown.Request(endpoint, access, CancellationToken);
            WriteVerbose(result.Exited
                ? $"Worker at {endpoint} (process {result.ProcessId}) shut down and exited."
                : $"Worker at {endpoint} (process {result.ProcessId}) is shutting down ({result.OpenSessions} sessions were open).");
            foreach (var worker in SessionRegistry.Workers.Where(w => w.Endpoint.Equals(endpoint, StringComparison.OrdinalIgnoreCase)))
            {
                worker.Host?.Dispose();
                worker.State = "Stopped";
                SessionRegistry.Remove(worker);
            }
        }, endpoint);
    }

    private void Stop(LlamaWorker worker)
    {
        if (worker.Host is { } host)
        {
            host.Dispose();
        }
        else if (worker.ProcessStartTime != default)
        {
            // A worker process of this machine: detached, or a worker executable another way started (a service
            // run as this user), known by its process id and start time.
            RunEngine(() =>
            {
                var outcome = DetachedWorkerStopper.Stop(worker.ProcessId, worker.ProcessStartTime);
                WriteVerbose(outcome switch
                {
                    DetachedWorkerStop.Graceful => $"Worker {worker.Name} (process {worker.ProcessId}) shut down gracefully.",
                    DetachedWorkerStop.Killed => $"Worker {worker.Name} (process {worker.ProcessId}) was killed.",
                    _ => $"Worker {worker.Name} (process {worker.ProcessId}) was no longer running.",
                });
            }, worker.Name);
        }
        worker.State = "Stopped";
        SessionRegistry.Remove(worker);
    }
}
