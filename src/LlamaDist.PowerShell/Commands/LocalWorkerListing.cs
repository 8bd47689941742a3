using LlamaDist.Engine.Formatting;
using LlamaDist.Engine.Workers;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// The workers Get-/Stop-LlamaWorker know without an endpoint: those this session started, then the worker
/// executables of this user on this machine that other sessions (or services) started, from the state directory.
/// </summary>
internal static class LocalWorkerListing
{
    public static IEnumerable<LlamaWorker> All()
    {
        var session = SessionRegistry.Workers;
        foreach (var worker in session)
        {
            yield return worker;
        }
        foreach (var found in LocalWorkers.List())
        {
            if (session.Any(worker => worker.Detached && worker.ProcessId == found.ProcessId))
            {
                continue;
            }
            yield return new LlamaWorker
            {
                Name = found.Name, Endpoint = found.Endpoint, ProcessId = found.ProcessId, Threads = found.Threads, PeerPort = found.PeerPort,
                MemoryBytes = found.TotalMemoryBytes, Memory = HumanReadable.Bytes(found.TotalMemoryBytes),
                Detached = found.Detached, WorkerId = found.WorkerId, Started = found.ProcessStartTime.ToLocalTime(),
                ProcessStartTime = found.ProcessStartTime, CertificateThumbprint = found.CertificateThumbprint,
                LogPath = found.LogPath, RecordedAuthenticated = found.Authenticated,
            };
        }
    }
}
