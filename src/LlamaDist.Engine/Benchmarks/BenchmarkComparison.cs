namespace LlamaDist.Engine.Benchmarks;

/// <summary>LlamaDist and llama.cpp's llama-bench measured in alternating rounds on the same model and machine.</summary>
public sealed class BenchmarkComparison
{
    /// <summary>LlamaDist's rows, one per test, over all rounds.</summary>
    public required IReadOnlyList<BenchmarkRow> Ours { get; init; }

    /// <summary>llama-bench's rows, one per test, over all rounds.</summary>
    public required IReadOnlyList<BenchmarkRow> Reference { get; init; }

    /// <summary>Ours / reference for every test both measured.</summary>
    public required IReadOnlyList<BenchmarkRatio> Ratios { get; init; }

    /// <summary>What llama-bench reported about itself and the model in its first result.</summary>
    public required LlamaBenchRecord ReferenceDescription { get; init; }

    /// <summary>The llama-bench program that ran.</summary>
    public required string ReferenceProgram { get; init; }
}
