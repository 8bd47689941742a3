using System.Management.Automation;
using LlamaDist.Engine.Workers;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Stops workers this session started (embedded or detached).</para>
/// <example><code>Get-LlamaWorker | Stop-LlamaWorker</code></example>
/// <example><code>Stop-LlamaWorker -Name test* -WhatIf</code></example>
/// </summary>
[Cmdlet(VerbsLifecycle.Stop, "LlamaWorker", SupportsShouldProcess = true, DefaultParameterSetName = WorkerSet)]
[OutputType(typeof(LlamaWorker))]
public sealed class StopLlamaWorkerCommand : LlamaCmdlet
{
    private const string WorkerSet = "Worker";
    private const string NameSet = "Name";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = WorkerSet)]
    public LlamaWorker[] Worker { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = NameSet)]
    [SupportsWildcards]
    public string[] Name { get; set; } = [];

    /// <summary>Write the stopped workers to the pipeline.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
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
            var matches = SessionRegistry.Workers.Where(w => pattern.IsMatch(w.Name) || pattern.IsMatch(w.Endpoint)).ToArray();
            if (matches.Length == 0 && !WildcardPattern.ContainsWildcardCharacters(name))
            {
                WriteError(new ErrorRecord(new ItemNotFoundException($"No worker named '{name}' was started in this session."),
                    ErrorIds.WorkerNotFound, ErrorCategory.ObjectNotFound, name));
            }
            foreach (var match in matches)
            {
                yield return match;
            }
        }
    }

    private void Stop(LlamaWorker worker)
    {
        if (worker.Host is { } host)
        {
            host.Dispose();
        }
        else if (worker.Detached)
        {
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
