using System.Globalization;
using System.Management.Automation;
using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Errors;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>What New-LlamaCluster and the -Worker parameter sets of other cmdlets share.</summary>
internal static class ClusterCmdletSupport
{
    /// <summary>-Split: Auto, Even, Memory, Tensor, Hybrid, or layer counts per node ("6,5" or 6, 5).</summary>
    public static (string Mode, int[]? Counts) ParseSplit(string[]? split)
    {
        if (split is null || split.Length == 0)
        {
            return ("Auto", null);
        }
        var parts = split.SelectMany(part => part.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray();
        if (parts.Length == 1 && parts[0] is var mode && (mode.Equals("Auto", StringComparison.OrdinalIgnoreCase)
            || mode.Equals("Even", StringComparison.OrdinalIgnoreCase) || mode.Equals("Memory", StringComparison.OrdinalIgnoreCase)
            || mode.Equals("Tensor", StringComparison.OrdinalIgnoreCase) || mode.Equals("Hybrid", StringComparison.OrdinalIgnoreCase)))
        {
            return (mode, null);
        }
        var counts = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out counts[i]))
            {
                throw new LlamaDistException(LlamaErrorKind.InvalidArgument,
                    $"-Split takes Auto, Even, Memory, Tensor, Hybrid or layer counts per node (e.g. 6,5), not '{string.Join(",", split)}'.", "Split");
            }
        }
        return ("Explicit", counts);
    }

    /// <summary>
    /// Builds a cluster from the -Worker parameter set every cluster-capable cmdlet shares (New-LlamaCluster,
    /// Invoke-LlamaPrompt -Worker, Invoke-LlamaBenchmark -Worker), with progress.
    /// </summary>
    public static ClusterModel Create(LlamaCmdlet cmdlet, string modelPath, IReadOnlyList<string> workers, bool includeLocal,
        string[]? split, int threads, string activationEncoding, int progressId, Engine.Workers.WorkerAccess access,
        int microBatchSize = 0, string failover = nameof(FailoverMode.Reassign), double stageTimeoutSeconds = 0, int[]? tensorGroupSize = null)
    {
        // -TensorGroupSize alone means a hybrid split.
        var (mode, counts) = ParseSplit(split is null && tensorGroupSize is { Length: > 0 } ? ["Hybrid"] : split);
        var request = new ClusterRequest
        {
            ModelPath = modelPath, Workers = workers, IncludeLocal = includeLocal, Split = mode == "Explicit" ? "Auto" : mode,
            LayerCounts = counts, Threads = threads, ActivationEncoding = activationEncoding,
            Access = access, MicroBatchSize = microBatchSize, TensorGroupSize = tensorGroupSize,
            Failover = Enum.Parse<FailoverMode>(failover, ignoreCase: true),
            StageTimeout = stageTimeoutSeconds > 0 ? TimeSpan.FromSeconds(stageTimeoutSeconds) : ClusterRequest.DefaultStageTimeout,
        };
        var progress = new ClusterProgress(cmdlet, progressId);
        var cluster = ClusterModel.Create(request, progress, cmdlet.Cancellation);
        cmdlet.WriteProgress(new ProgressRecord(progressId, "Building cluster", "Done") { RecordType = ProgressRecordType.Completed });
        return cluster;
    }

    /// <summary>Writes each loading step as a fresh ProgressRecord on the pipeline thread (the engine reports synchronously).</summary>
    private sealed class ClusterProgress(LlamaCmdlet cmdlet, int activityId) : IProgress<ClusterLoadProgress>
    {
        public void Report(ClusterLoadProgress value) =>
            cmdlet.WriteProgress(new ProgressRecord(activityId, value.Activity, value.Status)
            {
                PercentComplete = (int)Math.Clamp(value.Fraction * 100, 0, 100),
            });
    }

    /// <summary>Asks every node of a live cluster for its health now and writes it on the cluster's node objects.</summary>
    public static void RefreshHealth(LlamaCluster cluster, CancellationToken cancellationToken)
    {
        if (cluster.Handle is not ClusterModel { IsDisposed: false } model)
        {
            return;
        }
        var health = model.Health(cancellationToken);
        foreach (var node in cluster.Nodes)
        {
            var entry = health.FirstOrDefault(h => h.Endpoint == node.Endpoint);
            node.Health = entry is null || entry.Healthy ? "Healthy" : "Down";
            node.LastFailure = entry?.LastFailure is { } failure && !entry.Healthy ? failure : null;
        }
    }

    public static ClusterModel EngineCluster(LlamaCluster cluster) =>
        cluster.Handle as ClusterModel is { IsDisposed: false } model
            ? model
            : throw new ArgumentException($"Cluster {cluster.Id} was removed; create it again with New-LlamaCluster.");
}
