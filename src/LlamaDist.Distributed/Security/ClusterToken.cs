using System.Security.Cryptography;
using System.Text;

namespace LlamaDist.Distributed.Security;

/// <summary>
/// The cluster secret every call carries ("authorization: Bearer &lt;token&gt;") and the handshake proof built from it.
/// Comparison hashes both sides first, so it takes the same time whatever the lengths and wherever they differ.
/// </summary>
public static class ClusterToken
{
    /// <summary>The HTTP header (lower case, as HTTP/2 sends it) and its scheme.</summary>
    public const string HeaderName = "authorization";

    public const string Scheme = "Bearer ";

    /// <summary>Tokens shorter than this are refused at start-up: a secret anyone can guess protects nothing.</summary>
    public const int MinimumLength = 16;

    /// <summary>Longer tokens are refused too (they would only bloat every call's headers).</summary>
    public const int MaximumLength = 4096;

    private static readonly byte[] ProofLabel = "llamadist-handshake-v1"u8.ToArray();

    /// <summary>Challenge length a caller sends in its handshake.</summary>
    public const int ChallengeBytes = 32;

    /// <summary>
    /// Checks a token for use (trimmed, within the length limits, printable ASCII without spaces so it fits an
    /// HTTP header); returns it trimmed or throws <see cref="ArgumentException"/> naming <paramref name="source"/>.
    /// </summary>
    public static string Validate(string token, string source)
    {
        ArgumentNullException.ThrowIfNull(token);
        var trimmed = token.Trim();
        if (trimmed.Length < MinimumLength || trimmed.Length > MaximumLength)
        {
            throw new ArgumentException($"The cluster token from {source} must be {MinimumLength} to {MaximumLength} characters long (it has {trimmed.Length}). Generate one, e.g. [Convert]::ToBase64String([Security.Cryptography.RandomNumberGenerator]::GetBytes(32)).");
        }
        if (trimmed.Any(c => c is <= ' ' or > '~'))
        {
            throw new ArgumentException($"The cluster token from {source} may hold only printable ASCII characters without spaces.");
        }
        return trimmed;
    }

    /// <summary>Reads a token file: its first non-empty line, trimmed.</summary>
    public static string ReadFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var line = File.ReadLines(path).Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0)
            ?? throw new ArgumentException($"The token file {path} is empty.");
        return Validate(line, $"token file {path}");
    }

    /// <summary>True when <paramref name="headerValue"/> is "Bearer " + the expected token, in constant time.</summary>
    public static bool Matches(string expectedToken, string? headerValue)
    {
        var presented = headerValue is not null && headerValue.StartsWith(Scheme, StringComparison.Ordinal)
            ? headerValue[Scheme.Length..] : "";
        Span<byte> expectedHash = stackalloc byte[32];
        Span<byte> presentedHash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(expectedToken), expectedHash);
        SHA256.HashData(Encoding.UTF8.GetBytes(presented), presentedHash);
        return CryptographicOperations.FixedTimeEquals(expectedHash, presentedHash) && presented.Length > 0;
    }

    /// <summary>A fresh random challenge for a handshake.</summary>
    public static byte[] NewChallenge() => RandomNumberGenerator.GetBytes(ChallengeBytes);

    /// <summary>HMAC-SHA256(token, label || challenge): what a worker holding the token answers a challenge with.</summary>
    public static byte[] Prove(string token, ReadOnlySpan<byte> challenge)
    {
        var message = new byte[ProofLabel.Length + challenge.Length];
        ProofLabel.CopyTo(message, 0);
        challenge.CopyTo(message.AsSpan(ProofLabel.Length));
        return HMACSHA256.HashData(Encoding.UTF8.GetBytes(token), message);
    }

    /// <summary>True when <paramref name="response"/> proves knowledge of <paramref name="token"/> for <paramref name="challenge"/>.</summary>
    public static bool VerifyProof(string token, ReadOnlySpan<byte> challenge, ReadOnlySpan<byte> response) =>
        response.Length == 32 && CryptographicOperations.FixedTimeEquals(Prove(token, challenge), response);
}
