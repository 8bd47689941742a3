using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LlamaDist.Distributed.Client;
using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Workers;

/// <summary>
/// How a coordinator reaches workers that are not open to everyone: the cluster token, the SHA-256 thumbprints
/// their TLS certificates may have (https endpoints; none: the system's CAs decide), and a client certificate for
/// workers that require one (mutual TLS). Plain values, so the cmdlets can fill it.
/// </summary>
public sealed class WorkerAccess
{
    public static WorkerAccess None { get; } = new();

    public string? Token { get; init; }

    public IReadOnlyList<string> CertificateThumbprints { get; init; } = [];

    /// <summary>A PFX file with the client certificate and its key.</summary>
    public string? ClientCertificatePath { get; init; }

    public string? ClientCertificatePassword { get; init; }

    /// <summary>The channel credentials, checked (InvalidArgument / InvalidCertificate otherwise).</summary>
    internal WorkerCredentials ToCredentials()
    {
        WorkerCredentials credentials;
        try
        {
            credentials = WorkerCredentials.Create(Token, CertificateThumbprints);
        }
        catch (ArgumentException exception)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, exception.Message, "Token", exception);
        }
        if (string.IsNullOrEmpty(ClientCertificatePath))
        {
            return credentials;
        }
        try
        {
            var certificate = X509CertificateLoader.LoadPkcs12FromFile(ClientCertificatePath, ClientCertificatePassword);
            if (!certificate.HasPrivateKey)
            {
                throw new LlamaDistException(LlamaErrorKind.InvalidCertificate, $"The client certificate {ClientCertificatePath} has no private key.", ClientCertificatePath);
            }
            return credentials with { ClientCertificate = certificate };
        }
        catch (Exception exception) when (exception is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidCertificate, $"Cannot use the client certificate {ClientCertificatePath}: {exception.Message}",
                ClientCertificatePath, exception);
        }
    }
}
