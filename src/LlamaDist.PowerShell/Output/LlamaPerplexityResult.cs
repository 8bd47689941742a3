namespace LlamaDist.PowerShell.Output;

/// <summary>Measure-LlamaPerplexity's output, with llama-perplexity's figures.</summary>
public sealed class LlamaPerplexityResult
{
    public string Model { get; init; } = "";
    public string Path { get; init; } = "";
    public double Perplexity { get; init; }

    /// <summary>Standard error of the perplexity (llama-perplexity's "±").</summary>
    public double Uncertainty { get; init; }

    public int ScoredTokens { get; init; }
    public int TextTokens { get; init; }
    public int Chunks { get; init; }
    public int ContextSize { get; init; }
    public int Threads { get; init; }
    public double LoadMs { get; init; }
    public double EvalMs { get; init; }
    public double TokensPerSecond { get; init; }
    public double TotalMs { get; init; }
}
