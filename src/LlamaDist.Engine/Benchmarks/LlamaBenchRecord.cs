namespace LlamaDist.Engine.Benchmarks;

/// <summary>
/// One test of llama.cpp's llama-bench as its JSON output reports it (one object of the array `-o json` writes):
/// the test shape, tokens per second over its repetitions, and what llama-bench says about the build and model.
/// Text fields are cut to <see cref="LlamaBenchJson.MaxTextLength"/> characters.
/// </summary>
public sealed class LlamaBenchRecord
{
    /// <summary>"pp512", "tg128", or "pp512+tg128" for llama-bench's combined -pg test.</summary>
    public required string Test { get; init; }

    public required int PromptTokens { get; init; }
    public required int GenerationTokens { get; init; }
    public required int Threads { get; init; }

    /// <summary>avg_ts: mean tokens per second over the repetitions.</summary>
    public required double AverageTokensPerSecond { get; init; }

    /// <summary>stddev_ts.</summary>
    public required double StandardDeviationTokensPerSecond { get; init; }

    /// <summary>avg_ns as milliseconds.</summary>
    public required double AverageMs { get; init; }

    /// <summary>samples_ts: tokens per second of each repetition.</summary>
    public required double[] Samples { get; init; }

    /// <summary>model_type, "llama 1B Q4_0".</summary>
    public string ModelType { get; init; } = "";

    /// <summary>model_size: bytes of the model's tensors.</summary>
    public long ModelSize { get; init; }

    /// <summary>model_n_params.</summary>
    public long ModelParameters { get; init; }

    /// <summary>cpu_info, the CPU's model name.</summary>
    public string CpuInfo { get; init; } = "";

    /// <summary>backends, "CPU" (or "RPC" in builds with the RPC backend compiled in, still computing on the CPU).</summary>
    public string Backends { get; init; } = "";

    /// <summary>build_commit, "unknown" for a build outside a git checkout.</summary>
    public string BuildCommit { get; init; } = "";

    /// <summary>flash_attn.</summary>
    public bool FlashAttention { get; init; }
}
