using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// The workers and clusters started from this process, for Get-/Stop-LlamaWorker and Get-/Remove-LlamaCluster.
/// Process-wide: embedded workers live in the process, whichever runspace started them.
/// </summary>
internal static class SessionRegistry
{
    private static readonly object Gate = new();
    private static readonly List<LlamaWorker> WorkerList = [];
    private static readonly List<LlamaCluster> ClusterList = [];

    public static void Add(LlamaWorker worker)
    {
        lock (Gate) WorkerList.Add(worker);
    }

    public static void Remove(LlamaWorker worker)
    {
        lock (Gate) WorkerList.Remove(worker);
    }

    public static LlamaWorker[] Workers
    {
        get { lock (Gate) return [.. WorkerList]; }
    }

    public static void Add(LlamaCluster cluster)
    {
        lock (Gate) ClusterList.Add(cluster);
    }

    public static void Remove(LlamaCluster cluster)
    {
        lock (Gate) ClusterList.Remove(cluster);
    }

    public static LlamaCluster[] Clusters
    {
        get { lock (Gate) return [.. ClusterList]; }
    }
}
