namespace LlamaDist.Worker.Lifecycle;

/// <summary>
/// One running worker executable as its state file records it (<see cref="WorkerStateDirectory"/>), e.g.
/// { "ProcessId": 4242, "ProcessStartTime": "2026-12-04T13:20:01.23Z", "Endpoint": "http://192.168.1.20:50052",
///   "LocalEndpoint": "http://127.0.0.1:50052", "LogPath": "/home/me/.local/state/llamadist/workers/50052.log",
///   "Detached": true, ... }. No secrets: the token never lands here.
/// </summary>
public sealed record WorkerStateEntry
{
    public required int ProcessId { get; init; }

    /// <summary>UTC; with <see cref="ProcessId"/> it names the process even after its id is reused.</summary>
    public required DateTime ProcessStartTime { get; init; }

    /// <summary>What others dial (the advertised address when bound to a wildcard).</summary>
    public required string Endpoint { get; init; }

    /// <summary>What this machine dials: loopback when bound to a wildcard, else <see cref="Endpoint"/>.</summary>
    public required string LocalEndpoint { get; init; }

    public required string WorkerId { get; init; }

    public required string Name { get; init; }

    public int Threads { get; init; }

    /// <summary>The port tensor-parallel shards link on (the worker's --peer-port, or the free one it took).</summary>
    public int PeerPort { get; init; }

    public long TotalMemoryBytes { get; init; }

    /// <summary>The log file, or null when it logs to the console or journal.</summary>
    public string? LogPath { get; init; }

    /// <summary>Started by Start-LlamaWorker -Detached (its own session, no terminal).</summary>
    public bool Detached { get; init; }

    public string? CertificateThumbprint { get; init; }

    /// <summary>Whether calls must carry a cluster token.</summary>
    public bool Authenticated { get; init; }
}
