# Help for New-LlamaWorkerCertificate (format: README.md in this folder).
@{
    Synopsis    = 'Makes a self-signed TLS certificate for a worker and returns the thumbprint to pin.'
    Description = @'
New-LlamaWorkerCertificate makes an ECDSA P-256 certificate for server authentication that names this host,
localhost and this host's addresses (unless -DnsName and -IPAddress say otherwise) and writes it, with its
private key, as a PFX file for Start-LlamaWorker -CertificatePath (worker executable: --certificate).
Coordinators trust the worker by the thumbprint the result carries: -CertificateThumbprint on New-LlamaCluster,
Invoke-LlamaPrompt -Worker, Get-LlamaWorker and Stop-LlamaWorker -Endpoint. The file is written readable by its
owner only; an existing file is kept unless -Force is given.
'@
    Parameters  = @{
        Path      = 'Where to write the PFX file.'
        DnsName   = 'Host names clients use for the worker. This host''s names and localhost when omitted.'
        IPAddress = 'Addresses clients use for the worker. Loopback and this host''s addresses when omitted.'
        ValidDays = 'Days the certificate is valid.'
        Password  = 'A password protecting the PFX file (then give it to Start-LlamaWorker -CertificatePassword).'
        Force     = 'Replaces the file when it exists.'
    }
    Examples    = @(
        @{
            Title   = 'A certificate for this machine'
            Code    = '$cert = New-LlamaWorkerCertificate -Path ~/.llamadist/worker.pfx; $cert.Thumbprint'
        }
        @{
            Title   = 'For another machine''s names, password-protected'
            Code    = 'New-LlamaWorkerCertificate -Path ./pc1.pfx -DnsName pc1, pc1.lan -IPAddress 192.0.2.10 -ValidDays 730 -Password (Read-Host -AsSecureString)'
        }
        @{
            Title   = 'A worker over HTTPS and a cluster that pins it'
            Code    = @'
$cert = New-LlamaWorkerCertificate -Path ./worker.pfx
$worker = Start-LlamaWorker -Port 50052 -CertificatePath $cert.Path -TokenFile ./cluster.token
New-LlamaCluster -Worker $worker -TokenFile ./cluster.token -CertificateThumbprint $cert.Thumbprint
'@
        }
    )
    Links       = @('Start-LlamaWorker', 'New-LlamaCluster', 'about_LlamaDist_Distributed')
    Online      = 'docs/SECURITY.md'
}
