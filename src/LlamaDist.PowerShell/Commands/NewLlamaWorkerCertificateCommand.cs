using System.Management.Automation;
using LlamaDist.Engine.Workers;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Makes a self-signed TLS certificate for a worker and returns the thumbprint to pin.</para>
/// <para type="description">The certificate (ECDSA P-256, server authentication) names this host, localhost and
/// this host's addresses unless -DnsName/-IPAddress say otherwise, and is written as a PFX file for
/// Start-LlamaWorker -CertificatePath (worker executable: --certificate). Coordinators trust the worker by its
/// thumbprint: -CertificateThumbprint on New-LlamaCluster, Invoke-LlamaPrompt -Worker and Get-LlamaWorker.</para>
/// <example><code>$cert = New-LlamaWorkerCertificate -Path ~/.llamadist/worker.pfx; $cert.Thumbprint</code></example>
/// <example><code>New-LlamaWorkerCertificate -Path ./pc1.pfx -DnsName pc1, pc1.lan -IPAddress 192.0.2.10 -ValidDays 730 -Password (Read-Host -AsSecureString)</code></example>
/// </summary>
[Cmdlet(VerbsCommon.New, "LlamaWorkerCertificate", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(LlamaWorkerCertificate))]
public sealed class NewLlamaWorkerCertificateCommand : LlamaCmdlet
{
    /// <summary>Where to write the PFX file.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Host names clients use for the worker; this host's names and localhost when omitted.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? DnsName { get; set; }

    /// <summary>Addresses clients use for the worker; loopback and this host's addresses when omitted.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? IPAddress { get; set; }

    /// <summary>Days the certificate is valid (default 365).</summary>
    [Parameter]
    [ValidateRange(1, 3650)]
    public int ValidDays { get; set; } = 365;

    /// <summary>Password protecting the PFX file (then give it to Start-LlamaWorker -CertificatePassword).</summary>
    [Parameter]
    public System.Security.SecureString? Password { get; set; }

    /// <summary>Replace an existing file (without it an existing file is error FileExists).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        var path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
        if (!ShouldProcess(path, "Create a self-signed worker certificate"))
        {
            return;
        }
        RunEngine(() =>
        {
            var info = WorkerCertificate.CreateSelfSigned(path, DnsName, IPAddress, ValidDays, WorkerCredentialResolver.PlainText(Password), Force);
            WriteObject(new LlamaWorkerCertificate
            {
                Path = info.Path, Thumbprint = info.Thumbprint, Subject = info.Subject, NotBefore = info.NotBefore, NotAfter = info.NotAfter,
                DnsNames = [.. info.DnsNames], IPAddresses = [.. info.IPAddresses],
            });
        }, path);
    }
}
