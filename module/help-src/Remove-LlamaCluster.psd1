# Help for Remove-LlamaCluster (format: README.md in this folder).
@{
    Synopsis    = 'Releases a cluster: every worker frees the layers and sessions it held for it.'
    Description = @'
Remove-LlamaCluster tells each worker of the cluster to release the cluster's layer ranges and sessions at once
(a range another live cluster also holds stays loaded) and removes the cluster from this session. Without it
the workers release everything when the cluster's lease runs out (-LeaseTimeout on the worker), after this
session ends. A removed cluster cannot be used with -Cluster any more (ClusterNotFound).

Remove-LlamaCluster supports -WhatIf and -Confirm.
'@
    Parameters  = @{
        Cluster = 'Clusters from New-LlamaCluster or Get-LlamaCluster (also from the pipeline), or their Ids.'
        Id      = 'Ids of this session''s clusters (wildcards allowed; Tab completes them); binds the Id property of piped objects.'
    }
    Examples    = @(
        @{
            Title   = 'A cluster, used and removed'
            Code    = @'
$cluster = New-LlamaCluster -Worker 127.0.0.1:50052, 127.0.0.1:50053
Invoke-LlamaPrompt -Cluster $cluster -Prompt 'Hi' -MaxTokens 8
$cluster | Remove-LlamaCluster
'@
        }
        @{
            Title   = 'Every cluster of this session, confirming each'
            Code    = 'Get-LlamaCluster | Remove-LlamaCluster -Confirm'
        }
        @{
            Title   = 'A cluster by its Id'
            Code    = 'Remove-LlamaCluster -Id 3f2a*'
        }
    )
    Links       = @('New-LlamaCluster', 'Get-LlamaCluster', 'Stop-LlamaWorker', 'about_LlamaDist_Distributed')
    Online      = 'README.md#distributed-inference'
}
