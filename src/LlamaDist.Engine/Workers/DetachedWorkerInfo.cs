namespace LlamaDist.Engine.Workers;

/// <summary>
/// A worker executable running on this machine: one started by <see cref="DetachedWorker.Start"/>, or one found in
/// the state directory by <see cref="LocalWorkers.List"/>. <see cref="Endpoint"/> is what others dial (the
/// advertised address when bound to 0.0.0.0 or ::), <see cref="LocalEndpoint"/> what this machine dials.
/// </summary>
public sealed record DetachedWorkerInfo(int ProcessId, DateTime ProcessStartTime, string Endpoint, string LocalEndpoint, string WorkerId,
    string Name, string? CertificateThumbprint, string? LogPath)
{
    public bool Detached { get; init; } = true;
    public int Threads { get; init; }
    /// <summary>The port its tensor-parallel shards link on.</summary>
    public int PeerPort { get; init; }
    public long TotalMemoryBytes { get; init; }
    public bool Authenticated { get; init; }
}
