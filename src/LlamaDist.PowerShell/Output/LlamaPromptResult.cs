using System.Management.Automation;

namespace LlamaDist.PowerShell.Output;

/// <summary>
/// Invoke-LlamaPrompt's output (and the figures of Invoke-LlamaChat's): the text and its timings, named and counted like llama.cpp's perf lines.
/// Every timing is a flat number so results pipe into Measure-Object and Export-Csv; the two nested values
/// (TokenIds, Workers) are hidden from Export-Csv and the default views, and still readable by name.
/// </summary>
public class LlamaPromptResult
{
    public string Model { get; init; } = "";
    public string Prompt { get; init; } = "";
    public string Text { get; init; } = "";

    /// <summary>The generated token ids (no prompt, no end-of-sequence token).</summary>
    [Hidden]
    public int[] TokenIds { get; init; } = [];

    /// <summary>Per-worker figures; empty when the prompt ran on this machine.</summary>
    [Hidden]
    public LlamaWorkerTiming[] Workers { get; init; } = [];

    public int PromptTokens { get; init; }
    public double PromptEvalMs { get; init; }
    public double PromptTokensPerSecond { get; init; }
    public int GeneratedTokens { get; init; }
    public int EvalRuns { get; init; }
    public double EvalMs { get; init; }
    public double EvalTokensPerSecond { get; init; }
    public double LoadMs { get; init; }
    public double SampleMs { get; init; }
    public double TotalMs { get; init; }
    public string StopReason { get; init; } = "";

    /// <summary>The -Stop string that ended the text when StopReason is StopString; else null.</summary>
    public string? StopString { get; init; }
    public int Threads { get; init; }
    public int ContextSize { get; init; }
    public int Seed { get; init; }
    public int WorkerCount { get; init; }

    /// <summary>Nodes the cluster lost during the prompt, and how it went on; empty when none failed.</summary>
    [Hidden]
    public LlamaFailover[] Failovers { get; init; } = [];

    /// <summary>How many failovers the prompt went through.</summary>
    public int FailoverCount { get; init; }
}
