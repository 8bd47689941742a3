# Help for Get-LlamaWorker (format: README.md in this folder).
@{
    Synopsis    = 'Lists the workers of this machine, or asks workers anywhere for their status.'
    Description = @'
Without -Endpoint, Get-LlamaWorker lists the workers this session started and the worker executables of this
user that run on this machine (detached workers started from any session, and services run as this user), as
they recorded themselves in $XDG_STATE_HOME/llamadist/workers (~/.local/state/llamadist/workers;
%LOCALAPPDATA%\llamadist\workers on Windows). Records of processes that no longer run are deleted.

With -Endpoint it asks each worker for its own report (GetStatus, authenticated like every call): the layer
ranges it holds, its sessions, free memory against its limits, its traffic counters and its throughput.
'@
    Parameters  = @{
        Name                      = 'Names or endpoints of workers of this machine; wildcards allowed. Every worker when omitted.'
        Endpoint                  = 'host:port (or https://host:port) of workers to ask, started here or anywhere. Strings and objects with an Endpoint property bind from the pipeline.'
        Token                     = 'With -Endpoint: the cluster token the workers run with. Also -TokenFile, or LLAMADIST_TOKEN.'
        TokenFile                 = 'With -Endpoint: a file whose first line is the cluster token.'
        CertificateThumbprint     = 'With -Endpoint: SHA-256 thumbprints the workers'' TLS certificates may have (https:// endpoints).'
        ClientCertificatePath     = 'With -Endpoint: a PFX file with the client certificate to present to workers that require one (mutual TLS).'
        ClientCertificatePassword = 'With -Endpoint: the password of the -ClientCertificatePath file.'
    }
    Examples    = @(
        @{
            Title   = 'The workers of this machine'
            Code    = 'Get-LlamaWorker'
        }
        @{
            Title   = 'Only the detached ones, stopped'
            Code    = 'Get-LlamaWorker | Where-Object Detached | Stop-LlamaWorker'
        }
        @{
            Title   = 'What two remote workers hold'
            Code    = 'Get-LlamaWorker -Endpoint pc1:50052, pc2:50052 -TokenFile ./cluster.token | Format-List'
        }
    )
    Links       = @('Start-LlamaWorker', 'Stop-LlamaWorker', 'New-LlamaCluster', 'about_LlamaDist_Distributed')
    Online      = 'README.md#distributed-inference'
}
