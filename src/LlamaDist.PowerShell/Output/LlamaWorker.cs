using System.Management.Automation;

namespace LlamaDist.PowerShell.Output;

/// <summary>
/// A worker this session started (Start-LlamaWorker). Embedded workers run inside this process; detached ones
/// are their own process and outlive the session. Its string form is its endpoint, so a worker object can be
/// passed wherever an endpoint is expected (-Worker $w1, $w2).
/// </summary>
public sealed class LlamaWorker
{
    public string Name { get; init; } = "";
    public string Endpoint { get; init; } = "";
    public int ProcessId { get; init; }
    public string Backend { get; init; } = "CPU";
    public int Threads { get; init; }
    /// <summary>The port the shards of a tensor split link to each other on (-PeerPort, or the free one it took); 0 when not known.</summary>
    public int PeerPort { get; init; }
    /// <summary>Memory the worker may use for weights and caches, in bytes.</summary>
    public long MemoryBytes { get; init; }
    /// <summary><see cref="MemoryBytes"/> for people ("23.4 GiB").</summary>
    public string Memory { get; init; } = "";
    /// <summary>Running or Stopped.</summary>
    public string State { get; internal set; } = "Running";
    public bool Detached { get; init; }
    public string WorkerId { get; init; } = "";
    public DateTime Started { get; init; }
    /// <summary>SHA-256 thumbprint of the worker's TLS certificate (what -CertificateThumbprint pins); empty for cleartext.</summary>
    public string? CertificateThumbprint { get; init; }
    /// <summary>Whether calls must carry a cluster token.</summary>
    public bool Authenticated => Token is not null || RecordedAuthenticated;

    /// <summary>A detached worker's log file (rotated at 10 MiB, 3 files kept); empty for embedded workers.</summary>
    public string? LogPath { get; init; }

    /// <summary>What a worker found in the state directory recorded about its token (its value is never recorded).</summary>
    [Hidden]
    internal bool RecordedAuthenticated { get; init; }

    /// <summary>The cluster token it was started with: cmdlets given this worker (or its endpoint) use it.</summary>
    [Hidden]
    internal string? Token { get; init; }

    /// <summary>The in-process host of an embedded worker (an engine object, held by its interface only).</summary>
    [Hidden]
    internal IDisposable? Host { get; init; }

    /// <summary>When a detached worker's process started: Stop-LlamaWorker signals only that process.</summary>
    internal DateTime ProcessStartTime { get; init; }

    public override string ToString() => Endpoint;
}
