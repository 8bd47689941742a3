# Help for New-LlamaCluster (format: README.md in this folder).
@{
    Synopsis    = 'Splits a model''s layers across workers and loads them, ready for many prompts.'
    Description = @'
New-LlamaCluster plans how a model's layers are divided among the workers (in ring order, this process first with
-IncludeLocal), has each worker load its range, and returns a LlamaCluster for Invoke-LlamaPrompt,
Invoke-LlamaChat and Invoke-LlamaBenchmark -Cluster. Each worker loads its range from its own copy of the GGUF
(verified by a SHA-256 of exactly those tensors; a copy that differs is refused with ModelMismatch) or from its
cache; a worker without either receives just its range over the network, once, in 1 MiB chunks with progress.

-Split Auto weighs each node's measured throughput and free memory for the fastest token through the ring (a token
passes the stages one after another, so the faster nodes take the layers, each node at least one; then the split is
evened out as far as that costs at most 5%, and no node over-commits); Even splits by layer count, Memory by free memory; a list of numbers gives the layers per
node. -Split Tensor gives every worker a slice of every layer instead (its KV heads, feed-forward units and
vocabulary rows, read from its own copy of the GGUF), the workers summing partial products twice per layer.
-Split Hybrid combines the two: the workers form tensor-parallel groups (-TensorGroupSize, in -Worker order) that
run as the stages of a layer split; each group holds a contiguous layer range (in proportion to its number of
workers; to their measured speed under -Split Auto) sliced between its members as -Split Tensor slices the whole model. The first group takes the
tokens, each later one the previous group's hidden state (relayed by this process, in -ActivationEncoding), and
the last produces the logits. Put machines with fast links between them in one group. A tensor or hybrid split
does not fail over: a lost worker fails the prompt with a worker error (ErrorId WorkerUnreachable) naming it (remove the cluster and build
a new one without it). The cluster's Nodes show the plan: endpoint, layers, weight bytes, backend, load time and
where the weights came from. The cluster renews its lease on the workers in the background while it exists;
Remove-LlamaCluster releases it at once.
'@
    Parameters  = @{
        StageTimeout              = 'Seconds a node may give no sign of life (its health checks unanswered) before it counts as failed, even in the middle of a long prompt step; 5 by default. Also bounds each handshake (three times this, at most 15 s).'
        Failover                  = 'What happens when a node fails mid-prompt. Reassign (default): its layers move to the remaining nodes (or this process with -IncludeLocal), the session''s tokens are replayed to rebuild their KV caches and generation goes on with the same output, each failover recorded on the result; None: the prompt fails naming the node, with the partial result on the error.'
        MicroBatchSize            = 'Tokens per micro-batch of a prompt pipelined through the ring (llama.cpp -ub); 0 or omitted: chosen per prompt from the stages on distinct machines and the measured link.'
        Model                     = 'The GGUF model on this machine (the workers find theirs by file name, or receive their ranges). The embedded default model when omitted.'
        Worker                    = 'Workers in ring order: host:port or https://host:port, or worker objects from Start-LlamaWorker and Get-LlamaWorker (also from the pipeline; their Endpoint binds).'
        IncludeLocal              = 'Runs the first layers in this process as well, as the ring''s first stage.'
        Split                     = 'Auto (the default), Even, Memory, Tensor, Hybrid, or layer counts per node in ring order (this process first with -IncludeLocal), e.g. 11,11 or "6,5". Auto predicts the decode time of a layer split, a tensor split and (with 3 or more workers) hybrid groupings from the measured links and speeds, and loads the fastest.'
        TensorGroupSize           = 'Workers per tensor-parallel group of -Split Hybrid, taken in -Worker order: one number makes groups of that size, the last taking what is left (2 over 5 workers: 2, 2, 1); several give each group''s size (2,1 over 3 workers). Pairs when omitted; given without -Split it means -Split Hybrid.'
        Threads                   = 'Threads of the local stage (-IncludeLocal). The number of physical cores when omitted.'
        ActivationEncoding        = 'How hidden states travel between nodes: F32 (the default: exactly the values a local run computes, so the output is one machine''s), F16 (half the bytes) or Q8_0 (ggml''s 8-bit blocks, about a quarter; costs in docs/RELIABILITY.md). With -Split Tensor the same choice applies to the partial sums; with -Split Hybrid to the partial sums inside each group and the hidden states between groups.'
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
            Title   = 'Two tensor-parallel pairs as the two stages of a layer split'
            Code    = 'New-LlamaCluster -Model ./model.gguf -Worker pc1:50052, pc2:50052, pc3:50052, pc4:50052 -Split Hybrid -TensorGroupSize 2'
        }
        @{
            Title   = 'HTTPS workers pinned by thumbprint'
            Code    = 'New-LlamaCluster -Model ./model.gguf -Worker https://pc1:50052 -TokenFile ./cluster.token -CertificateThumbprint $thumbprint'
        }
    )
    Links       = @('Start-LlamaWorker', 'Remove-LlamaCluster', 'Get-LlamaCluster', 'Invoke-LlamaPrompt', 'about_LlamaDist_Distributed')
    Online      = 'README.md#distributed-inference'
}
