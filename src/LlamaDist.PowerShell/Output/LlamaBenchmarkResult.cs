using System.Management.Automation;

namespace LlamaDist.PowerShell.Output;

/// <summary>
/// One Invoke-LlamaBenchmark row, with llama-bench's columns: model type, size, parameters, backend, threads, the
/// test (pp&lt;N&gt; or tg&lt;N&gt;) and its tokens per second as mean ± standard deviation over the repetitions.
/// </summary>
public sealed class LlamaBenchmarkResult
{
    public string Model { get; init; } = "";

    /// <summary>"llama 1.1B Q4_0", as llama-bench's model_type.</summary>
    public string ModelType { get; init; } = "";

    public long ModelSize { get; init; }

    /// <summary><see cref="ModelSize"/> in binary units ("636.18 MiB"), as every size LlamaDist shows.</summary>
    public string Size { get; init; } = "";
    public long ModelParameters { get; init; }
    public string Backend { get; init; } = "";
    public int Threads { get; init; }

    /// <summary>Sequences run at the same time (-Concurrency); the t/s figures count the tokens of all of them.</summary>
    public int Concurrency { get; init; } = 1;

    /// <summary>Where the local weights were read from (Mapped or Resident, llama-bench's mmap column); empty for a cluster.</summary>
    public string WeightMemory { get; init; } = "";

    /// <summary>"pp512" or "tg128".</summary>
    public string Test { get; init; } = "";

    public int PromptTokens { get; init; }
    public int GenerationTokens { get; init; }
    public int Repetitions { get; init; }
    public double AverageTokensPerSecond { get; init; }
    public double StandardDeviationTokensPerSecond { get; init; }
    public double AverageMs { get; init; }

    /// <summary>Tokens per second of each repetition.</summary>
    [Hidden]
    public double[] Samples { get; init; } = [];
}
