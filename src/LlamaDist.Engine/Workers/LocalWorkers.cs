using LlamaDist.Worker.Lifecycle;

namespace LlamaDist.Engine.Workers;

/// <summary>
/// The worker executables of this user running on this machine, whichever session started them, read from the
/// state directory ($XDG_STATE_HOME/llamadist/workers, ~/.local/state/llamadist/workers, or
/// LocalApplicationData\llamadist\workers). Entries whose process is gone or whose id was reused are dropped.
/// </summary>
public static class LocalWorkers
{
    public static string StateDirectory => WorkerStateDirectory.DefaultPath;

    public static IReadOnlyList<DetachedWorkerInfo> List() =>
        [.. WorkerStateDirectory.Default.ReadLive().Select(entry =>
            new DetachedWorkerInfo(entry.ProcessId, entry.ProcessStartTime, entry.Endpoint, entry.LocalEndpoint, entry.WorkerId, entry.Name,
                entry.CertificateThumbprint, entry.LogPath)
            {
                Detached = entry.Detached, Threads = entry.Threads, PeerPort = entry.PeerPort, TotalMemoryBytes = entry.TotalMemoryBytes, Authenticated = entry.Authenticated,
            })];
}
