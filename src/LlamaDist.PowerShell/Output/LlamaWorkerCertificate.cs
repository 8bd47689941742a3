namespace LlamaDist.PowerShell.Output;

/// <summary>New-LlamaWorkerCertificate's output: the PFX file a worker serves and the thumbprint coordinators pin.</summary>
public sealed class LlamaWorkerCertificate
{
    public string Path { get; init; } = "";
    /// <summary>SHA-256 of the certificate (64 hex digits): give it to -CertificateThumbprint.</summary>
    public string Thumbprint { get; init; } = "";
    public string Subject { get; init; } = "";
    public DateTime NotBefore { get; init; }
    public DateTime NotAfter { get; init; }
    public string[] DnsNames { get; init; } = [];
    public string[] IPAddresses { get; init; } = [];
}
