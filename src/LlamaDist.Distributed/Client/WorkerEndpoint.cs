using System.Globalization;
using System.Net;

namespace LlamaDist.Distributed.Client;

/// <summary>
/// A worker address as users type it: "host:port", "host" (port <see cref="DefaultPort"/>), "[::1]:50052",
/// "http://host:port" or "https://host:port" (TLS). Normalised to "host:port" (IPv6 in brackets), or
/// "https://host:port" for TLS: the form workers pass each other as the ring's next hop.
/// </summary>
public sealed record WorkerEndpoint(string Host, int Port)
{
    /// <summary>The worker serves HTTP/2 over TLS.</summary>
    public bool Tls { get; init; }

    /// <summary>The port workers listen on unless told otherwise.</summary>
    public const int DefaultPort = 50052;

    /// <summary>The address gRPC calls go to: http (cleartext HTTP/2) or https.</summary>
    public Uri ToUri() => new(string.Create(CultureInfo.InvariantCulture, $"{(Tls ? "https" : "http")}://{HostForUri}:{Port}"));

    public bool IsLoopback => Host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(Host, out var address) && IPAddress.IsLoopback(address));

    private string HostForUri => Host.Contains(':') ? $"[{Host}]" : Host;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{(Tls ? "https://" : "")}{HostForUri}:{Port}");

    public static WorkerEndpoint Parse(string text)
    {
        if (!TryParse(text, out var endpoint, out var problem))
        {
            throw new FormatException(problem);
        }
        return endpoint;
    }

    public static bool TryParse(string? text, out WorkerEndpoint endpoint, out string problem)
    {
        endpoint = null!;
        problem = "";
        var value = text?.Trim() ?? "";
        bool tls = false;
        if (value.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            value = value["http://".Length..].TrimEnd('/');
        }
        else if (value.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            value = value["https://".Length..].TrimEnd('/');
            tls = true;
        }
        if (value.Length == 0)
        {
            problem = "A worker endpoint is empty; expected host:port, e.g. 127.0.0.1:50052.";
            return false;
        }

        string host = value;
        string? portText = null;
        if (value.StartsWith('['))
        {
            int close = value.IndexOf(']');
            if (close < 0)
            {
                problem = $"Worker endpoint '{text}' opens '[' without closing it.";
                return false;
            }
            host = value[1..close];
            if (close + 1 < value.Length)
            {
                if (value[close + 1] != ':')
                {
                    problem = $"Worker endpoint '{text}' has text after ']' that is not ':port'.";
                    return false;
                }
                portText = value[(close + 2)..];
            }
        }
        else if (value.Count(c => c == ':') == 1)
        {
            int colon = value.IndexOf(':');
            host = value[..colon];
            portText = value[(colon + 1)..];
        }

        int port = DefaultPort;
        if (portText is not null && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
        {
            problem = $"Worker endpoint '{text}' has port '{portText}'; a port is a number from 1 to 65535.";
            return false;
        }
        if (host.Length == 0 || host.Any(char.IsWhiteSpace) || host.Contains('/'))
        {
            problem = $"Worker endpoint '{text}' has no valid host name.";
            return false;
        }
        endpoint = new WorkerEndpoint(host, port) { Tls = tls };
        return true;
    }
}
