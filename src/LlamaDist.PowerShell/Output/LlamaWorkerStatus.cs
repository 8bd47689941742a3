namespace LlamaDist.PowerShell.Output;

/// <summary>A worker's own report (Get-LlamaWorker -Endpoint): identity, capability, what it holds, its traffic.</summary>
public sealed class LlamaWorkerStatus
{
    public string Endpoint { get; init; } = "";
    public string Name { get; init; } = "";
    public string WorkerId { get; init; } = "";
    public string Version { get; init; } = "";
    public string Protocol { get; init; } = "";
    public string Backend { get; init; } = "";
    public string Device { get; init; } = "";
    public int Threads { get; init; }
    public long TotalMemoryBytes { get; init; }
    public long FreeMemoryBytes { get; init; }
    public string FreeMemory { get; init; } = "";
    /// <summary>Weight bytes per second streamed in the worker's start-up matrix-vector measurement.</summary>
    public double BytesPerSecond { get; init; }
    public double GigaFlops { get; init; }
    public string[] Ranges { get; init; } = [];
    public int Sessions { get; init; }
    public long ForwardMessagesReceived { get; init; }
    public long ForwardBytesReceived { get; init; }
    public long ForwardMessagesSent { get; init; }
    public long ForwardBytesSent { get; init; }

    public override string ToString() => Endpoint;
}
