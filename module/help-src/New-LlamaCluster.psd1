# Help for New-LlamaCluster (format: README.md in this folder).
@{
    Synopsis    = 'Splits a model''s layers across workers and loads them, ready for many prompts.'
    Description = @'
New-LlamaCluster plans how a model's layers are divided among the workers (in ring order, this process first with
-IncludeLocal), has each worker load its range, and returns a LlamaCluster for Invoke-LlamaPrompt,
Invoke-LlamaChat and Invoke-LlamaBenchmark -Cluster. Each worker loads its range from its own copy of the GGUF
(verified by a SHA-256 of exactly those tensors; a copy that differs is refused with ModelMismatch) or from its
cache; a worker without either receives just its range over the network, once, in 1 MiB chunks with progress.

-Split Auto weighs each node's measured throughput and free memory so every stage takes about the same time and
no node over-commits; Even splits by layer count, Memory by free memory; a list of numbers gives the layers per
node. The cluster's Nodes show the plan: endpoint, layers, weight bytes, backend, load time and where the
weights came from. The cluster renews its lease on the workers in the background while it exists;
Remove-LlamaCluster releases it at once.
'@
    Parameters  = @{
        StageTimeout              = 'Seconds a node may give no sign of life (its health checks unanswered) before it counts as failed, even in the middle of a long prompt step; 5 by default. Also bounds each handshake (three times this, at most 15 s).'
        Failover                  = 'What happens when a node fails mid-prompt. Reassign (default): its layers move to the remaining nodes (or this process with -IncludeLocal), the session''s tokens are replayed to rebuild their KV caches and generation goes on with the same output, each failover recorded on the result; None: the prompt fails naming the node, with the partial result on the error.'
        MicroBatchSize            = 'Tokens per micro-batch of a prompt pipelined through the ring (llama.cpp -ub); 0 or omitted: chosen per prompt from the stages on distinct machines and the measured link.'
        Model                     = 'The GGUF model on this machine (the workers find theirs by file name, or receive their ranges). The embedded default model when omitted.'
        Worker                    = 'Workers in ring order: host:port or https://host:port, or worker objects from Start-LlamaWorker and Get-LlamaWorker (also from the pipeline; their Endpoint binds).'
        IncludeLocal              = 'Runs the first layers in this process as well, as the ring''s first stage.'
        Split                     = 'Auto (the default), Even, Memory, or layer counts per node in ring order (this process first with -IncludeLocal), e.g. 11,11 or "6,5".'
        Threads                   = 'Threads of the local stage (-IncludeLocal). The number of physical cores when omitted.'
        ActivationEncoding        = 'How hidden states travel between nodes: F32 (the default: exactly the values a local run computes, so the output is one machine''s), F16 (half the bytes) or Q8_0 (ggml''s 8-bit blocks, about a quarter; costs in docs/RELIABILITY.md). With -Split Tensor the same choice applies to the partial sums.'
        Token                     = 'The cluster token the workers were started with. Also -TokenFile, or LLAMADIST_TOKEN.'
        TokenFile                 = 'A file whose first line is the cluster token.'
        CertificateThumbprint     = 'SHA-256 thumbprints the workers'' TLS certificates may have (https:// endpoints with self-signed certificates).'
        ClientCertificatePath     = 'A PFX file with the client certificate to present to workers that require one (mutual TLS).'
        ClientCertificatePassword = 'The password of the -ClientCertificatePath file.'
    }
    Examples    = @(
        @{
            Title   = 'Two local workers and the embedded model'
            Code    = @'
$workers = 50052, 50053 | ForEach-Object { Start-LlamaWorker -Port $_ -Threads 2 }
$cluster = New-LlamaCluster -Worker $workers
$cluster.Nodes | Format-Table
Invoke-LlamaPrompt -Cluster $cluster -Prompt 'Once upon a time' -Temperature 0
'@
        }
        @{
            Title   = 'Workers on other machines, with a fixed split'
            Code    = 'New-LlamaCluster -Model ./model.gguf -Worker pc1:50052, pc2:50052 -TokenFile ~/.llamadist/cluster.token -Split 11,11'
        }
        @{
            Title   = 'This process as the first stage'
            Code    = '$w1, $w2 | New-LlamaCluster -Model ./model.gguf -IncludeLocal -Split 2,5,4'
        }
        @{
            Title   = 'HTTPS workers pinned by thumbprint'
            Code    = 'New-LlamaCluster -Model ./model.gguf -Worker https://pc1:50052 -TokenFile ./cluster.token -CertificateThumbprint $thumbprint'
        }
    )
    Links       = @('Start-LlamaWorker', 'Remove-LlamaCluster', 'Get-LlamaCluster', 'Invoke-LlamaPrompt', 'about_LlamaDist_Distributed')
    Online      = 'README.md#distributed-inference'
}
