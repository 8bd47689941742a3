# Help for Invoke-LlamaPrompt (format: README.md in this folder).
@{
    Synopsis    = 'Generates text from a prompt with a GGUF model and returns the text with llama.cpp-style timings.'
    Description = @'
Invoke-LlamaPrompt loads a GGUF model once (in this process, split across -Worker endpoints for this call, or
from a -Cluster that New-LlamaCluster built), then generates a completion for each prompt it receives, from the
parameter or from the pipeline. Sampling follows llama.cpp's default chain (repetition penalty, top-k, top-p,
min-p, temperature); -Temperature 0 is greedy and gives the same tokens as llama.cpp.

Each prompt gives one LlamaPromptResult: the text, the prompt and generated token counts, the token ids, the
prompt-processing and generation times and rates (llama_perf_context_print's figures), the stop reason and,
on a cluster, the compute, network and byte counts of every worker (the Workers property). The results pipe
into Export-Csv, Measure-Object and Format-Table.

Without -Model the module's embedded model (llama-2-tiny-random, random weights: its text is gibberish by
design) is used, so every example here runs without downloading anything.
'@
    Parameters  = @{
        StageTimeout              = 'Seconds a node may give no sign of life (its health checks unanswered) before it counts as failed, even in the middle of a long prompt step; 5 by default. Also bounds each handshake (three times this, at most 15 s).'
        Failover                  = 'What happens when a node fails mid-prompt. Reassign (default): its layers move to the remaining nodes (or this process with -IncludeLocal), the session''s tokens are replayed to rebuild their KV caches and generation goes on with the same output, each failover recorded on the result; None: the prompt fails naming the node, with the partial result on the error.'
        Backend                   = 'Where the layers run: Auto (CUDA, then OpenCL, then the CPU engine; -Verbose says why), Cpu, Cuda, OpenCL or IlgpuCpu (the GPU kernels on ILGPU''s CPU accelerator). An explicit backend this machine lacks fails with BackendUnavailable.'
        ThrottleLimit             = 'Prompts from the pipeline generated at the same time on the one model or cluster, their steps evaluated together; results in input order. 1 (default): one after another. Not with -Stream.'
        Prompt                    = 'The text to complete. Strings from the pipeline are prompts, each generated on its own with the model loaded once.'
        Model                     = 'The GGUF model file (a path; PowerShell paths and PSDrives work). The embedded default model when omitted.'
        MaxTokens                 = 'The most tokens to generate (llama.cpp -n). Generation also ends at the end-of-generation token or a -Stop string.'
        Temperature               = 'Sampling temperature; 0 is greedy (argmax), which is deterministic and matches llama.cpp token for token.'
        TopK                      = 'Keep only the K most likely tokens before sampling (llama.cpp --top-k); 0 disables it.'
        TopP                      = 'Nucleus sampling: keep the most likely tokens whose probabilities add up to P (llama.cpp --top-p); 1.0 disables it.'
        MinP                      = 'Drop tokens less likely than P times the most likely one (llama.cpp --min-p); 0 disables it.'
        RepeatPenalty             = 'Penalty for tokens among the last -RepeatLastN (llama.cpp --repeat-penalty); 1.0 disables it.'
        RepeatLastN               = 'How many of the last tokens -RepeatPenalty looks at (llama.cpp --repeat-last-n).'
        Seed                      = 'The sampler''s seed: the same seed, model, prompt and parameters give the same text. A random seed when omitted.'
        Threads                   = 'Compute threads in this process (with -Worker, those of the local stage that -IncludeLocal adds). The number of physical cores when omitted.'
        ContextSize               = 'The KV cache size in tokens (llama.cpp -c): prompt plus generated tokens must fit. The model''s training context, at most 4096, when omitted.'
        Stop                      = 'Strings that end generation: the text stops just before the first one it reaches (StopReason StopString), as llama-server''s "stop".'
        Stream                    = 'Writes the text to the host as it is generated (the information stream, tagged PSHOST; capture it with 6>&1). The result object is written at the end as usual.'
        WeightMemory              = 'Where the weight matrices are read from: Auto (huge-page backed memory on Linux when the weights fit in half the available memory, else Mapped), Mapped (the file mapping, llama.cpp''s default mmap) or Resident (read into memory, llama.cpp --no-mmap).'
        ActivationEncoding        = 'With -Worker: how hidden states travel between nodes: F32 (the default: exactly the values a local run computes, so the output is one machine''s), F16 (half the bytes) or Q8_0 (ggml''s 8-bit blocks, about a quarter; costs in docs/RELIABILITY.md). With -Split Tensor the same choice applies to the partial sums.'
        Worker                    = 'Workers (host:port or https://host:port, in ring order) to split the model across for this call: a cluster is built before the first prompt and removed after the last. Start them with Start-LlamaWorker.'
        IncludeLocal              = 'With -Worker: this process runs the first layers as a stage of its own.'
        Split                     = 'With -Worker: how layers are divided: Auto (by each node''s measured throughput and free memory: the fastest token through the ring), Even, Memory, or layer counts per node in ring order (this process first with -IncludeLocal), e.g. 11,11.'
        Token                     = 'With -Worker: the cluster token the workers were started with. Also -TokenFile, or the LLAMADIST_TOKEN environment variable.'
        TokenFile                 = 'With -Worker: a file whose first line is the cluster token.'
        CertificateThumbprint     = 'With -Worker: SHA-256 thumbprints the workers'' TLS certificates may have (for https:// endpoints with self-signed certificates, as New-LlamaWorkerCertificate makes).'
        ClientCertificatePath     = 'With -Worker: a PFX file with the client certificate to present to workers that require one (mutual TLS).'
        ClientCertificatePassword = 'With -Worker: the password of the -ClientCertificatePath file.'
        Cluster                   = 'A cluster from New-LlamaCluster: its layers stay loaded on the workers, so many prompts run without reloading.'
    }
    Examples    = @(
        @{
            Title   = 'Greedy completion with the embedded model'
            Code    = "Invoke-LlamaPrompt -Prompt 'Once upon a time' -MaxTokens 32 -Temperature 0 -Stream"
            Remarks = 'Streams the text as it is generated, then writes the result object with the timings.'
        }
        @{
            Title   = 'Prompts from the pipeline, timings into a CSV file'
            Code    = @'
'Once upon a time', 'The capital of France' |
    Invoke-LlamaPrompt -Model ./model.gguf -MaxTokens 64 -Seed 7 |
    Export-Csv runs.csv
Import-Csv runs.csv | Measure-Object -Property EvalTokensPerSecond -Average
'@
            Remarks = 'The model is loaded once for both prompts; -Seed makes the sampled text repeatable.'
        }
        @{
            Title   = 'Stop strings'
            Code    = "Invoke-LlamaPrompt -Model ./model.gguf -Prompt 'Q: What is 2+2? A:' -Stop ""``n"", 'Q:' -Temperature 0"
            Remarks = 'The text ends just before a new line or the next question.'
        }
        @{
            Title   = 'One prompt split across two workers'
            Code    = "Invoke-LlamaPrompt -Model ./model.gguf -Worker pc1:50052, pc2:50052 -TokenFile ~/.llamadist/cluster.token -Prompt 'Once upon a time'"
            Remarks = 'A cluster is built for this call and removed afterwards; the result''s Workers property has each node''s compute and network time.'
        }
        @{
            Title   = 'Many prompts on a cluster that stays loaded'
            Code    = @'
$cluster = New-LlamaCluster -Model ./model.gguf -Worker 127.0.0.1:50052, 127.0.0.1:50053
1..10 | ForEach-Object { Invoke-LlamaPrompt -Cluster $cluster -Prompt "Story $_" -MaxTokens 64 } | Export-Csv runs.csv
$cluster | Remove-LlamaCluster
'@
        }
    )
    Links       = @('Invoke-LlamaChat', 'New-LlamaCluster', 'Invoke-LlamaBenchmark', 'Start-LlamaWorker', 'about_LlamaDist')
    Online      = 'README.md#usage'
}
