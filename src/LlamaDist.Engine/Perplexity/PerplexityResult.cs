namespace LlamaDist.Engine.Perplexity;

/// <summary>llama-perplexity's figures: PPL = exp(mean negative log-likelihood) ± its standard error.</summary>
public sealed class PerplexityResult
{
    public required double Perplexity { get; init; }
    public required double Uncertainty { get; init; }

    /// <summary>Tokens whose likelihood was scored (the second half of each chunk, minus one).</summary>
    public required int ScoredTokens { get; init; }

    public required int Chunks { get; init; }
    public required int ContextSize { get; init; }
    public required int TextTokens { get; init; }
    public required int Threads { get; init; }
    public required double LoadMs { get; init; }
    public required double EvalMs { get; init; }
    public required double TotalMs { get; init; }
}
