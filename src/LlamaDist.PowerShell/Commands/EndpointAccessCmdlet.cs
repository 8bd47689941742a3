using System.Management.Automation;
using LlamaDist.Engine.Workers;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// A cmdlet that reaches workers by endpoint (parameter set Endpoint): the credentials it presents to them, shared
/// by Get-LlamaWorker -Endpoint and Stop-LlamaWorker -Endpoint (see <see cref="WorkerCredentialResolver"/>).
/// </summary>
public abstract class EndpointAccessCmdlet : LlamaCmdlet
{
    protected const string EndpointSet = "Endpoint";

    /// <summary>With -Endpoint: the cluster token the workers run with (see also -TokenFile, LLAMADIST_TOKEN).</summary>
    [Parameter(ParameterSetName = EndpointSet)]
    public System.Security.SecureString? Token { get; set; }

    /// <summary>With -Endpoint: a file whose first line is the cluster token.</summary>
    [Parameter(ParameterSetName = EndpointSet)]
    [ValidateNotNullOrEmpty]
    public string? TokenFile { get; set; }

    /// <summary>With -Endpoint: SHA-256 thumbprints the workers' TLS certificates may have (https:// endpoints).</summary>
    [Parameter(ParameterSetName = EndpointSet)]
    [ValidateNotNullOrEmpty]
    public string[]? CertificateThumbprint { get; set; }

    /// <summary>With -Endpoint: a PFX file with the client certificate to present to workers that require one (mutual TLS).</summary>
    [Parameter(ParameterSetName = EndpointSet)]
    [ValidateNotNullOrEmpty]
    public string? ClientCertificatePath { get; set; }

    /// <summary>The password of the -ClientCertificatePath file.</summary>
    [Parameter(ParameterSetName = EndpointSet)]
    public System.Security.SecureString? ClientCertificatePassword { get; set; }

    /// <summary>What to present to the worker at <paramref name="endpoint"/>.</summary>
    internal WorkerAccess AccessFor(string endpoint) =>
        WorkerCredentialResolver.Resolve(Token, TokenFile, CertificateThumbprint, ClientCertificatePath, ClientCertificatePassword,
            [endpoint], ResolveSinglePath);
}
