using System.Net;
using System.Net.NetworkInformation;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LlamaDist.Distributed.Security;
using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Workers;

/// <summary>What New-LlamaWorkerCertificate made: the file and the thumbprint coordinators pin.</summary>
public sealed class WorkerCertificateInfo
{
    public required string Path { get; init; }
    /// <summary>SHA-256 of the certificate's DER bytes, upper-case hex: what -CertificateThumbprint takes.</summary>
    public required string Thumbprint { get; init; }
    public required string Subject { get; init; }
    public required DateTime NotBefore { get; init; }
    public required DateTime NotAfter { get; init; }
    public required IReadOnlyList<string> DnsNames { get; init; }
    public required IReadOnlyList<string> IPAddresses { get; init; }
}

/// <summary>
/// Self-signed TLS certificates for workers: an ECDSA P-256 key, the names and addresses clients may use in
/// its subject alternative names (so system validation could pass too), server and client authentication usage, written
/// as a PFX (PKCS#12) file the worker's --certificate takes. Coordinators trust it by pinning its thumbprint.
/// </summary>
public static class WorkerCertificate
{
    public static WorkerCertificateInfo CreateSelfSigned(string path, IReadOnlyList<string>? dnsNames, IReadOnlyList<string>? ipAddresses,
        int validDays, string? password, bool force)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (validDays is < 1 or > 3650)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"ValidDays must be from 1 to 3650, not {validDays}.", nameof(validDays));
        }
        if (File.Exists(path) && !force)
        {
            throw new LlamaDistException(LlamaErrorKind.FileExists, $"{path} exists; use -Force to replace it.", path);
        }
        var names = (dnsNames is { Count: > 0 } ? dnsNames : DefaultDnsNames()).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var addresses = new List<IPAddress>();
        foreach (var text in ipAddresses is { Count: > 0 } ? ipAddresses : DefaultAddresses())
        {
            addresses.Add(IPAddress.TryParse(text, out var address) ? address
                : throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"'{text}' is not an IP address.", nameof(ipAddresses)));
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={names[0]}, O=LlamaDist worker", key, HashAlgorithmName.SHA256);
        var alternativeNames = new SubjectAlternativeNameBuilder();
        names.ForEach(alternativeNames.AddDnsName);
        addresses.Distinct().ToList().ForEach(alternativeNames.AddIpAddress);
        request.CertificateExtensions.Add(alternativeNames.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        // Server authentication, and client authentication: a worker presents the same certificate to the next
        // stage when that one requires client certificates (mutual TLS).
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var notBefore = DateTimeOffset.UtcNow.AddMinutes(-5);
        using var certificate = request.CreateSelfSigned(notBefore, notBefore.AddDays(validDays));

        var full = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        var bytes = certificate.Export(X509ContentType.Pfx, password);
        using (var stream = new FileStream(full, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(bytes);
        }
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(full, UnixFileMode.UserRead | UnixFileMode.UserWrite);  // it holds the private key
        }
        return new WorkerCertificateInfo
        {
            Path = full,
            Thumbprint = CertificatePins.Thumbprint(certificate),
            Subject = certificate.Subject,
            NotBefore = certificate.NotBefore,
            NotAfter = certificate.NotAfter,
            DnsNames = names,
            IPAddresses = addresses.Select(a => a.ToString()).Distinct().ToList(),
        };
    }

    /// <summary>This host's name (and its fully qualified form when it has one) plus localhost.</summary>
    private static IEnumerable<string> DefaultDnsNames()
    {
        yield return Environment.MachineName.ToLowerInvariant();
        var domain = IPGlobalProperties.GetIPGlobalProperties().DomainName;
        if (!string.IsNullOrEmpty(domain))
        {
            yield return $"{Environment.MachineName}.{domain}".ToLowerInvariant();
        }
        yield return "localhost";
    }

    /// <summary>Loopback plus every unicast address of this host's interfaces that are up.</summary>
    private static IEnumerable<string> DefaultAddresses()
    {
        yield return IPAddress.Loopback.ToString();
        yield return IPAddress.IPv6Loopback.ToString();
        foreach (var network in NetworkInterface.GetAllNetworkInterfaces().Where(n => n.OperationalStatus == OperationalStatus.Up))
        {
            foreach (var unicast in network.GetIPProperties().UnicastAddresses)
            {
                if (!unicast.Address.IsIPv6LinkLocal)
                {
                    yield return unicast.Address.ToString();
                }
            }
        }
    }
}
