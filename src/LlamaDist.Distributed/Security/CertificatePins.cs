using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace LlamaDist.Distributed.Security;

/// <summary>
/// TLS trust for worker connections: a certificate is accepted when its SHA-256 thumbprint is one of the pinned
/// ones (self-signed worker certificates; names and chains are then irrelevant), or, with no pins, when the
/// system's certificate authorities accept it for the host name.
/// </summary>
public static class CertificatePins
{
    /// <summary>The SHA-256 thumbprint LlamaDist pins: hex (upper case) of the hash of the certificate's DER bytes.</summary>
    public static string Thumbprint(X509Certificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Convert.ToHexString(SHA256.HashData(certificate.GetRawCertData()));
    }

    /// <summary>Normalises user input ("aa:bb …", lower case, spaces) to upper-case hex; throws for anything else.</summary>
    public static string Normalize(string thumbprint)
    {
        ArgumentNullException.ThrowIfNull(thumbprint);
        var hex = new string(thumbprint.Where(c => c is not (':' or ' ' or '-')).ToArray()).ToUpperInvariant();
        if (hex.Length != 64 || !hex.All(Uri.IsHexDigit))
        {
            throw new ArgumentException($"'{(thumbprint.Length > 80 ? thumbprint[..80] + "…" : thumbprint)}' is not a SHA-256 certificate thumbprint (64 hex digits).");
        }
        return hex;
    }

    /// <summary>The validation callback for a client connecting to a worker.</summary>
    public static RemoteCertificateValidationCallback Validator(IReadOnlyCollection<string> pins) =>
        (_, certificate, _, errors) => certificate is not null && (pins.Count > 0
            ? pins.Contains(Thumbprint(certificate), StringComparer.OrdinalIgnoreCase)
            : errors == SslPolicyErrors.None);
}
