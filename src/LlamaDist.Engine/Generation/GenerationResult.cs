namespace LlamaDist.Engine.Generation;

/// <summary>
/// The generated text and its timings, counted like llama.cpp's perf lines: prompt tokens are evaluated in
/// batches (prompt eval); the first generated token comes from the prompt pass, every later one costs one
/// single-token decode (an eval run), so EvalRuns = generated - 1 when no token was the last to be decoded.
/// </summary>
public sealed class GenerationResult
{
    public required string Text { get; init; }
    public required int[] PromptTokenIds { get; init; }
    public required int[] TokenIds { get; init; }
    public required StopReason StopReason { get; init; }

    /// <summary>The stop string that ended generation when <see cref="StopReason"/> is StopString, else null.</summary>
    public string? StopString { get; init; }
    public required int Seed { get; init; }
    public required int Threads { get; init; }
    public required int ContextSize { get; init; }
    public required double LoadMs { get; init; }
    public required double PromptEvalMs { get; init; }
    public required int EvalRuns { get; init; }
    public required double EvalMs { get; init; }
    public required double SampleMs { get; init; }
    public required double TotalMs { get; init; }

    /// <summary>Per-node figures when a cluster ran the prompt; empty for a local run.</summary>
    public IReadOnlyList<StageStatistics> Stages { get; init; } = [];

    /// <summary>Nodes a cluster lost during the prompt and how it went on (empty when none failed, or locally).</summary>
    public IReadOnlyList<FailoverRecord> Failovers { get; init; } = [];
}
