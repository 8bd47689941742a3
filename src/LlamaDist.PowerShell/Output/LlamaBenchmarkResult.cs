using System.Management.Automation;

namespace LlamaDist.PowerShell.Output;

/// <summary>
/// One Invoke-LlamaBenchmark row, with llama-bench's columns: model type, size, parameters, backend, threads, the
/// test (pp&lt;N&gt; or tg&lt;N&gt;) and its tokens per second as mean ± standard deviation over the repetitions.
/// Local runs add the machine's measured read bandwidth and, for generation, how much of it decoding used and the
/// resident memory while it ran. With -Reference LlamaCpp the rows of llama.cpp's llama-bench follow LlamaDist's
/// (Engine says which), then one ratio row per test (Engine "LlamaDist / llama.cpp", the figure in Ratio, the
/// tokens-per-second columns NaN). Every row has the same columns, so a run pipes into Export-Csv whole.
/// </summary>
public sealed class LlamaBenchmarkResult
{
    /// <summary>"LlamaDist", "llama.cpp (llama-bench ...)" or, on ratio rows, "LlamaDist / llama.cpp".</summary>
    public string Engine { get; init; } = "";

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

    /// <summary>On ratio rows: LlamaDist's mean tokens per second over llama.cpp's (above 1, LlamaDist is faster).</summary>
    public double? Ratio { get; init; }

    /// <summary>Local runs: this machine's read bandwidth (GB/s, 10^9 bytes) measured in the same run with the same threads.</summary>
    public double? ReadBandwidthGBps { get; init; }

    /// <summary>Local runs: bytes of weights a decoded token reads (every tensor but the token embedding table).</summary>
    public long? WeightBytesPerToken { get; init; }

    /// <summary>Generation rows of local runs: WeightBytesPerToken x tokens per second / read bandwidth.</summary>
    public double? BandwidthFraction { get; init; }

    /// <summary>
    /// LlamaDist's local CPU runs: how fast the same threads stream the bytes of WeightBytesPerToken where this load
    /// keeps them (GB/s), measured in the same run. Fresh memory can be faster or slower than the weights' pages.
    /// </summary>
    public double? WeightReadGBps { get; init; }

    /// <summary>LlamaDist's generation rows of local CPU runs: WeightBytesPerToken x tokens per second / WeightReadGBps.</summary>
    public double? WeightReadFraction { get; init; }

    /// <summary>
    /// LlamaDist's generation rows of local CPU runs (one sequence): decode steps alternated one by one with plain reads
    /// of the same weights by the same threads, after the tests. This is the weights' bytes per second in those steps.
    /// </summary>
    public double? AlternatingDecodeGBps { get; init; }

    /// <summary>The same measurement's read passes: the weights' bytes per second in the seconds between the steps.</summary>
    public double? AlternatingReadGBps { get; init; }

    /// <summary>
    /// AlternatingDecodeGBps / AlternatingReadGBps: how close decoding comes to the rate its weights read at, both taken
    /// in the same seconds (the weights' read rate moves between moments on some machines, which WeightReadFraction's
    /// separate measurement cannot follow).
    /// </summary>
    public double? AlternatingReadFraction { get; init; }

    /// <summary>LlamaDist's generation rows of local runs: the process's peak resident set sampled while decoding.</summary>
    public long? PeakResidentBytes { get; init; }

    /// <summary>With PeakResidentBytes: the process's resident set before the model was loaded.</summary>
    public long? BaselineResidentBytes { get; init; }

    /// <summary>With PeakResidentBytes: the model's tensors plus the F16 KV cache of the test's context.</summary>
    public long? WeightAndCacheBytes { get; init; }

    /// <summary>Tokens per second of each repetition.</summary>
    [Hidden]
    public double[] Samples { get; init; } = [];
}
