using LlamaDist.Distributed.Security;

namespace LlamaDist.Distributed.Client;

/// <summary>
/// What a caller presents to workers and how it trusts them: the cluster token (sent with every call; null when
/// the workers run without one), the SHA-256 thumbprints a worker's TLS certificate may have (https endpoints;
/// empty: the system's certificate authorities decide), and the client certificate for workers that require one.
/// </summary>
public sealed record WorkerCredentials
{
    public static WorkerCredentials None { get; } = new();

    public string? Token { get; init; }

    public IReadOnlyList<string> CertificateThumbprints { get; init; } = [];

    /// <summary>The certificate (with its private key) presented to workers that require one (mutual TLS).</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? ClientCertificate { get; init; }

    /// <summary>Credentials from user input: the token checked, thumbprints normalised (throws ArgumentException).</summary>
    public static WorkerCredentials Create(string? token, IEnumerable<string>? thumbprints) => new()
    {
        Token = string.IsNullOrEmpty(token) ? null : ClusterToken.Validate(token, "the caller"),
        CertificateThumbprints = (thumbprints ?? []).Select(CertificatePins.Normalize).Distinct().ToArray(),
    };
}
