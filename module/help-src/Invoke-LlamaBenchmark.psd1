# Help for Invoke-LlamaBenchmark (format: README.md in this folder).
@{
    Synopsis    = 'Measures prompt processing (pp) and text generation (tg) speed of a model, like llama-bench.'
    Description = @'
Invoke-LlamaBenchmark runs llama-bench's two tests: pp processes -PromptTokens tokens in batches of -BatchSize,
tg generates -GenTokens tokens one at a time. Each test runs once to warm up, then -Repetitions times; each
gives one LlamaBenchmarkResult row with the mean and standard deviation of tokens per second, as llama-bench
prints them. The model runs here, split across -Worker endpoints, or on a -Cluster; on a cluster the figures
include the network hops of the ring.

The rows pipe into Export-Csv or ConvertTo-Json for comparison across machines, models and splits.
'@
    Parameters  = @{
        ReferenceTimeoutSec       = 'Seconds one llama-bench round may take before it is stopped (ErrorId LlamaCppTimedOut); 1800 by default.'
        LlamaCppPath              = 'The directory that holds llama-bench (a llama.cpp build''s bin directory), or the program itself; implies -Reference LlamaCpp.'
        Reference                 = 'Local runs: LlamaCpp also runs llama.cpp''s own llama-bench (from -LlamaCppPath or LLAMADIST_LLAMACPP_BIN) on the same model with the same threads, tests and repetitions, in rounds alternating with LlamaDist''s, and adds its rows and a ratio row per test. None (the default) measures LlamaDist alone.'
        StageTimeout              = 'Seconds a node may give no sign of life (its health checks unanswered) before it counts as failed, even in the middle of a long prompt step; 5 by default. Also bounds each handshake (three times this, at most 15 s).'
        Failover                  = 'What happens when a node fails mid-prompt. Reassign (default): its layers move to the remaining nodes (or this process with -IncludeLocal), the session''s tokens are replayed to rebuild their KV caches and generation goes on with the same output, each failover recorded on the result; None: the prompt fails naming the node, with the partial result on the error.'
        Backend                   = 'Where the layers run: Auto (CUDA, then OpenCL, then the CPU engine; -Verbose says why), Cpu, Cuda, OpenCL or IlgpuCpu (the GPU kernels on ILGPU''s CPU accelerator). An explicit backend this machine lacks fails with BackendUnavailable.'
        Concurrency               = 'Sequences run at the same time, each with its own KV cache; tokens per second counts the tokens of all of them.'
        Model                     = 'The GGUF model file. FileInfo objects from Get-ChildItem bind by their FullName property, so several models can be measured in one pipeline.'
        PromptTokens              = 'Tokens of the prompt-processing test (llama-bench -p); 0 skips it.'
        GenTokens                 = 'Tokens of the generation test (llama-bench -n); 0 skips it.'
        Repetitions               = 'Measured runs per test, after one warm-up run (llama-bench -r).'
        Threads                   = 'Compute threads in this process (llama-bench -t). The number of physical cores when omitted.'
        BatchSize                 = 'Prompt tokens per batch (llama-bench -b).'
        WeightMemory              = 'Where the weight matrices are read from: Auto, Mapped (the file mapping) or Resident (read into memory); see Invoke-LlamaPrompt.'
        Worker                    = 'Workers (host:port, in ring order) to split the model across for this benchmark.'
        IncludeLocal              = 'With -Worker: this process runs the first layers as a stage of its own.'
        Split                     = 'With -Worker: Auto, Even, Memory, or layer counts per node in ring order.'
        Token                     = 'With -Worker: the cluster token the workers were started with. Also -TokenFile, or LLAMADIST_TOKEN.'
        TokenFile                 = 'With -Worker: a file whose first line is the cluster token.'
        CertificateThumbprint     = 'With -Worker: SHA-256 thumbprints the workers'' TLS certificates may have (https:// endpoints).'
        ClientCertificatePath     = 'With -Worker: a PFX file with the client certificate to present to workers that require one (mutual TLS).'
        ClientCertificatePassword = 'With -Worker: the password of the -ClientCertificatePath file.'
        Cluster                   = 'A cluster from New-LlamaCluster: measures the ring as it is loaded.'
    }
    Examples    = @(
        @{
            Title   = 'pp512 and tg128 of a local model into a CSV file'
            Code    = 'Invoke-LlamaBenchmark -Model ./tinyllama-q8_0.gguf -Threads 2 | Export-Csv bench.csv'
        }
        @{
            Title   = 'Every model of a folder, small tests'
            Code    = 'Get-ChildItem ./models/*.gguf | Invoke-LlamaBenchmark -PromptTokens 128 -GenTokens 32 -Repetitions 3 | Format-Table'
        }
        @{
            Title   = 'The same model on a two-worker cluster'
            Code    = @'
$cluster = New-LlamaCluster -Model ./tinyllama-q8_0.gguf -Worker 127.0.0.1:50052, 127.0.0.1:50053
Invoke-LlamaBenchmark -Cluster $cluster -PromptTokens 128 -GenTokens 32 | Export-Csv bench.csv -Append
'@
        }
    )
    Links       = @('Invoke-LlamaPrompt', 'New-LlamaCluster', 'New-LlamaTestModel', 'about_LlamaDist')
    Online      = 'docs/BENCHMARKS.md'
}
