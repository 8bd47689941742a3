# Help for Get-LlamaCluster (format: README.md in this folder).
@{
    Synopsis    = 'Lists the clusters this session created.'
    Description = @'
Get-LlamaCluster lists the clusters New-LlamaCluster created in this session and has not removed: their id,
model, split, nodes (endpoint, layers, weights, load time, where the weights came from), activation encoding and
state. Clusters belong to the session that made them: their leases on the workers end with it.
'@
    Parameters  = @{
        Id = 'Cluster ids; wildcards allowed. Every cluster when omitted.'
    }
    Examples    = @(
        @{
            Title   = 'The plan of every cluster'
            Code    = '(Get-LlamaCluster).Nodes | Format-Table'
        }
        @{
            Title   = 'Remove every cluster of this session'
            Code    = 'Get-LlamaCluster | Remove-LlamaCluster'
        }
    )
    Links       = @('New-LlamaCluster', 'Remove-LlamaCluster', 'about_LlamaDist_Distributed')
    Online      = 'README.md#distributed-inference'
}
