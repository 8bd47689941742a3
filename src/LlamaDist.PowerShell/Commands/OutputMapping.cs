using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Workers;
using LlamaDist.Engine.Formatting;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;
using LlamaDist.Engine.Perplexity;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>Engine results to the module's own output types (engine types never reach the pipeline).</summary>
internal static class OutputMapping
{
    public static LlamaModelInfo ToModelInfo(ModelSummary summary) => new()
    {
        Name = summary.Name,
        Path = summary.Path,
        Architecture = summary.Architecture,
        ParameterCount = summary.ParameterCount,
        Parameters = HumanReadable.Count(summary.ParameterCount),
        FileSize = summary.FileSize,
        Size = HumanReadable.Bytes(summary.FileSize),
        Type = summary.PredominantType,
        WeightTypes = summary.WeightTypes,
        GgufVersion = summary.GgufVersion,
        TensorCount = summary.TensorCount,
        LayerCount = summary.LayerCount,
        EmbeddingLength = summary.EmbeddingLength,
        FeedForwardLength = summary.FeedForwardLength,
        HeadCount = summary.HeadCount,
        KvHeadCount = summary.KvHeadCount,
        ContextLength = summary.ContextLength,
        VocabularySize = summary.VocabularySize,
        TokenizerModel = summary.TokenizerModel,
        Supported = summary.Supported,
        Reason = summary.Reason,
        Tokenizer = summary.Tokenizer,
        PreTokenizer = summary.PreTokenizer,
    };

    /// <summary>A prompt result, or a chat result (which adds the conversation to the same figures).</summary>
    public static TResult ToPromptResult<TResult>(string model, string prompt, GenerationResult result) where TResult : LlamaPromptResult, new() => new()
    {
        Model = model,
        Prompt = prompt,
        Text = result.Text,
        TokenIds = result.TokenIds,
        Workers = result.Stages.Select(ToWorkerTiming).ToArray(),
        PromptTokens = result.PromptTokenIds.Length,
        PromptEvalMs = Math.Round(result.PromptEvalMs, 3),
        PromptTokensPerSecond = PerSecond(result.PromptTokenIds.Length, result.PromptEvalMs),
        GeneratedTokens = result.TokenIds.Length,
        EvalRuns = result.EvalRuns,
        EvalMs = Math.Round(result.EvalMs, 3),
        EvalTokensPerSecond = PerSecond(result.EvalRuns, result.EvalMs),
        LoadMs = Math.Round(result.LoadMs, 3),
        SampleMs = Math.Round(result.SampleMs, 3),
        TotalMs = Math.Round(result.TotalMs, 3),
        StopReason = result.StopReason.ToString(),
        StopString = result.StopString,
        Threads = result.Threads,
        ContextSize = result.ContextSize,
        Seed = result.Seed,
        WorkerCount = result.Stages.Count,
        Failovers = result.Failovers.Select(ToFailover).ToArray(),
        FailoverCount = result.Failovers.Count,
    };

    public static LlamaFailover ToFailover(FailoverRecord failover) => new()
    {
        Endpoint = failover.Endpoint,
        Layers = failover.Layers,
        Detected = failover.DetectedUtc.ToLocalTime(),
        DetectionMs = Math.Round(failover.DetectionMs, 3),
        Position = failover.Position,
        Reason = failover.Reason,
        NewPlan = failover.NewPlan,
        ReplanMs = Math.Round(failover.ReplanMs, 3),
        ReplayMs = Math.Round(failover.ReplayMs, 3),
        ReplayedTokens = failover.ReplayedTokens,
    };

    public static LlamaWorkerTiming ToWorkerTiming(StageStatistics stage) => new()
    {
        Endpoint = stage.Endpoint,
        Layers = stage.Layers,
        FirstLayer = stage.LayerStart,
        LastLayer = stage.LayerEnd - 1,
        ComputeMs = Math.Round(stage.ComputeMs, 3),
        NetworkMs = Math.Round(stage.NetworkMs, 3),
        BytesSent = stage.BytesSent,
        BytesReceived = stage.BytesReceived,
        Steps = stage.Steps,
    };

    public static LlamaCluster ToCluster(ClusterModel cluster) => new()
    {
        Id = cluster.Id,
        Model = cluster.Summary.Name,
        ModelPath = cluster.Summary.Path,
        Split = cluster.Split,
        NodeCount = cluster.Nodes.Count,
        Nodes = cluster.Nodes.Select(node => new LlamaClusterNode
        {
            Endpoint = node.Endpoint,
            Name = node.Name,
            Layers = node.Layers,
            FirstLayer = node.LayerStart,
            LastLayer = node.LayerEnd - 1,
            WeightBytes = node.WeightBytes,
            Weights = HumanReadable.Bytes(node.WeightBytes),
            Backend = node.Backend,
            Threads = node.Threads,
            LoadMs = Math.Round(node.LoadMs, 3),
            WeightSource = node.WeightSource,
            BytesStreamed = node.BytesStreamed,
            PredictedMsPerToken = Math.Round(node.PredictedMsPerToken, 3),
            ObservedSource = () => node.ObservedMsPerToken,
        }).ToArray(),
        Plan = cluster.Plan,
        ActivationEncoding = cluster.ActivationEncoding,
        LoadMs = Math.Round(cluster.LoadMs, 3),
        Created = cluster.CreatedUtc.ToLocalTime(),
        Handle = cluster,
    };

    public static LlamaWorkerStatus ToWorkerStatus(WorkerStatusInfo status) => new()
    {
        Endpoint = status.Endpoint,
        Name = status.Name,
        WorkerId = status.WorkerId,
        Version = status.SoftwareVersion,
        Protocol = status.ProtocolVersion,
        Backend = status.Backend,
        Device = status.DeviceName,
        Threads = status.Threads,
        TotalMemoryBytes = status.TotalMemoryBytes,
        FreeMemoryBytes = status.FreeMemoryBytes,
        FreeMemory = HumanReadable.Bytes(status.FreeMemoryBytes),
        BytesPerSecond = Math.Round(status.BytesPerSecond),
        GigaFlops = Math.Round(status.GigaFlops, 2),
        Ranges = status.Ranges.ToArray(),
        Sessions = status.OpenSessions,
        ForwardMessagesReceived = status.ForwardMessagesReceived,
        ForwardBytesReceived = status.ForwardBytesReceived,
        ForwardMessagesSent = status.ForwardMessagesSent,
        ForwardBytesSent = status.ForwardBytesSent,
    };

    public static LlamaPerplexityResult ToPerplexityResult(string model, string path, PerplexityResult result) => new()
    {
        Model = model,
        Path = path,
        Perplexity = result.Perplexity,
        Uncertainty = result.Uncertainty,
        ScoredTokens = result.ScoredTokens,
        TextTokens = result.TextTokens,
        Chunks = result.Chunks,
        ContextSize = result.ContextSize,
        Threads = result.Threads,
        LoadMs = Math.Round(result.LoadMs, 3),
        EvalMs = Math.Round(result.EvalMs, 3),
        TokensPerSecond = PerSecond(result.Chunks * result.ContextSize, result.EvalMs),
        TotalMs = Math.Round(result.TotalMs, 3),
    };

    /// <summary>Tokens per second as llama.cpp prints it; 0 when nothing was timed.</summary>
    private static double PerSecond(int tokens, double milliseconds) =>
        milliseconds > 0 ? Math.Round(tokens * 1000.0 / milliseconds, 2) : 0;
}
