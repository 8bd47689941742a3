# Help for Stop-LlamaWorker (format: README.md in this folder).
@{
    Synopsis    = 'Stops workers: those of this machine (embedded or detached), or any worker by endpoint.'
    Description = @'
Worker objects (from Start-LlamaWorker or Get-LlamaWorker) and -Name stop the workers this session started and
the detached workers of this user on this machine: an embedded worker is shut down in this process; a detached
one gets SIGTERM, and a kill after 10 seconds (only the very process that was started, checked by its start
time, so a reused process id is never hit). -Endpoint asks a worker anywhere to shut down gracefully with the
Shutdown call, authenticated with the cluster token like every call: it answers, ends its sessions and exits;
a worker on this machine is then watched until it has exited.

Stop-LlamaWorker supports -WhatIf and -Confirm.
'@
    Parameters  = @{
        Worker                    = 'Worker objects from Start-LlamaWorker or Get-LlamaWorker (also from the pipeline).'
        Name                      = 'Names or endpoints of workers of this machine; wildcards allowed.'
        Endpoint                  = 'host:port (or https://host:port) of workers to ask to shut down; binds the Endpoint property of piped objects (Get-LlamaWorker -Endpoint results).'
        PassThru                  = 'Writes the stopped workers to the pipeline (worker objects and -Name).'
        Token                     = 'With -Endpoint: the cluster token the workers run with. Also -TokenFile, or LLAMADIST_TOKEN.'
        TokenFile                 = 'With -Endpoint: a file whose first line is the cluster token.'
        CertificateThumbprint     = 'With -Endpoint: SHA-256 thumbprints the workers'' TLS certificates may have (https:// endpoints).'
        ClientCertificatePath     = 'With -Endpoint: a PFX file with the client certificate to present to workers that require one (mutual TLS).'
        ClientCertificatePassword = 'With -Endpoint: the password of the -ClientCertificatePath file.'
    }
    Examples    = @(
        @{
            Title   = 'Every worker of this machine'
            Code    = 'Get-LlamaWorker | Stop-LlamaWorker'
        }
        @{
            Title   = 'What would stop, by name'
            Code    = 'Stop-LlamaWorker -Name test* -WhatIf'
        }
        @{
            Title   = 'A worker on another machine, by endpoint'
            Code    = 'Stop-LlamaWorker -Endpoint pc1:50052 -TokenFile ./cluster.token'
            Remarks = 'The worker authenticates the Shutdown call with the cluster token and exits once it has answered.'
        }
        @{
            Title   = 'Workers found by endpoint, then stopped'
            Code    = 'Get-LlamaWorker -Endpoint pc1:50052, pc2:50052 -TokenFile ./cluster.token | Stop-LlamaWorker -TokenFile ./cluster.token'
        }
    )
    Links       = @('Start-LlamaWorker', 'Get-LlamaWorker', 'Remove-LlamaCluster', 'about_LlamaDist_Distributed')
    Online      = 'README.md#distributed-inference'
}
