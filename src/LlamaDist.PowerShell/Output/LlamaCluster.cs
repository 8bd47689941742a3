using System.Management.Automation;

namespace LlamaDist.PowerShell.Output;

/// <summary>
/// A model loaded across workers (New-LlamaCluster): the plan per node and what loading took. Reuse it with
/// Invoke-LlamaPrompt -Cluster for many prompts; Remove-LlamaCluster frees the workers' memory.
/// </summary>
public sealed class LlamaCluster
{
    public string Id { get; init; } = "";
    public string Model { get; init; } = "";
    public string ModelPath { get; init; } = "";
    /// <summary>How the model was divided: Auto, Even, Memory or Explicit (layers), or Tensor (a slice of every layer per worker).</summary>
    public string Split { get; init; } = "";
    public int NodeCount { get; init; }
    /// <summary>The plan in ring order.</summary>
    public LlamaClusterNode[] Nodes { get; init; } = [];
    /// <summary>
    /// The planner's predicted decode ms per token of the layer and tensor splits, which it chose and why, and the
    /// measured link; empty when nothing was measured.
    /// </summary>
    public string Plan { get; init; } = "";
    /// <summary>F16 or F32: how hidden states travel between nodes (with Tensor, partial sums: F16, F32 or Q8_0).</summary>
    public string ActivationEncoding { get; init; } = "";
    public double LoadMs { get; init; }
    public DateTime Created { get; init; }
    /// <summary>Ready or Removed.</summary>
    public string State { get; internal set; } = "Ready";

    /// <summary>The engine's cluster (held by its interface only).</summary>
    [Hidden]
    internal IDisposable? Handle { get; set; }

    public override string ToString() => Id;
}
