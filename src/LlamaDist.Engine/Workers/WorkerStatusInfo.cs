namespace LlamaDist.Engine.Workers;

/// <summary>A worker's answer to a status query (Get-LlamaWorker -Endpoint): who it is, what it holds, its traffic.</summary>
public sealed class WorkerStatusInfo
{
    public required string Endpoint { get; init; }
    public required string WorkerId { get; init; }
    public required string Name { get; init; }
    public required string SoftwareVersion { get; init; }
    public required string ProtocolVersion { get; init; }
    public required string Backend { get; init; }
    public required string DeviceName { get; init; }
    public required int Threads { get; init; }
    public required long TotalMemoryBytes { get; init; }
    public required long FreeMemoryBytes { get; init; }
    public required double BytesPerSecond { get; init; }
    public required double GigaFlops { get; init; }
    /// <summary>Loaded ranges, e.g. "tiny.gguf [0, 11) 560 MiB loaded".</summary>
    public required IReadOnlyList<string> Ranges { get; init; }
    public required int OpenSessions { get; init; }
    public required long ForwardMessagesReceived { get; init; }
    public required long ForwardBytesReceived { get; init; }
    public required long ForwardMessagesSent { get; init; }
    public required long ForwardBytesSent { get; init; }
}
