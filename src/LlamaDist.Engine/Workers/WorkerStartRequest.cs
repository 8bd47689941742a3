namespace LlamaDist.Engine.Workers;

/// <summary>Start-LlamaWorker's settings (see the worker executable's options for their meaning).</summary>
public sealed class WorkerStartRequest
{
    public string Address { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 50052;
    /// <summary>0: one per physical core.</summary>
    public int Threads { get; init; }
    public string? Name { get; init; }
    public string? ModelPath { get; init; }
    public string? CacheDirectory { get; init; }
    /// <summary>0: the machine's memory.</summary>
    public long MaxMemoryBytes { get; init; }
    /// <summary>Where hosted ranges' weight matrices are read from.</summary>
    public LlamaDist.Engine.Models.WeightMemoryMode WeightMemory { get; init; }
}
