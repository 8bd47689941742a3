using System.Net;
using System.Security;
using LlamaDist.Engine.Workers;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// Where a cmdlet that talks to workers gets the cluster token and the certificate thumbprints it trusts:
/// -Token (SecureString), else -TokenFile (its first line), else the token of a worker this session started at
/// one of the endpoints (so Start-LlamaWorker's object pipes into New-LlamaCluster as it is), else the
/// LLAMADIST_TOKEN environment variable (for scripts and services). Thumbprints: -CertificateThumbprint, else those
/// of the session's own TLS workers at the endpoints. A client certificate (mutual TLS) only from -ClientCertificatePath.
/// </summary>
internal static class WorkerCredentialResolver
{
    public const string TokenVariable = "LLAMADIST_TOKEN";

    public static WorkerAccess Resolve(SecureString? token, string? tokenFile, string[]? thumbprints, string? clientCertificatePath,
        SecureString? clientCertificatePassword, IEnumerable<string> endpoints, Func<string, string> resolvePath)
    {
        var known = SessionRegistry.Workers.Where(worker => endpoints.Contains(worker.Endpoint, StringComparer.OrdinalIgnoreCase)).ToList();
        var pins = thumbprints is { Length: > 0 } ? thumbprints
            : known.Select(worker => worker.CertificateThumbprint).OfType<string>().Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
        return new WorkerAccess
        {
            Token = ResolveToken(token, tokenFile, resolvePath) ?? known.Select(worker => worker.Token).FirstOrDefault(t => t is not null)
                ?? NullIfEmpty(Environment.GetEnvironmentVariable(TokenVariable)),
            CertificateThumbprints = pins,
            ClientCertificatePath = clientCertificatePath is null ? null : resolvePath(clientCertificatePath),
            ClientCertificatePassword = PlainText(clientCertificatePassword),
        };
    }

    /// <summary>-Token or -TokenFile alone (a worker being started takes no token from other workers).</summary>
    public static string? ResolveToken(SecureString? token, string? tokenFile, Func<string, string> resolvePath)
    {
        if (token is not null)
        {
            return NullIfEmpty(new NetworkCredential(string.Empty, token).Password);
        }
        if (tokenFile is not null)
        {
            return Engine.Workers.WorkerToken.ReadFile(resolvePath(tokenFile));
        }
        return null;
    }

    public static string? PlainText(SecureString? secure) => secure is null ? null : new NetworkCredential(string.Empty, secure).Password;

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
