using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace LlamaDist.Worker.Lifecycle;

/// <summary>
/// The address a worker tells others to dial. A worker bound to a wildcard (0.0.0.0 or ::) cannot be reached at
/// that address, so it advertises the first address of an interface that is up and not loopback, in the bound
/// family (IPv4 for 0.0.0.0; IPv6 global or IPv4 for ::), else the host's name. An explicit advertise address
/// (-AdvertiseAddress, --advertise-address) always wins. A specific bound address is advertised as it is.
/// </summary>
public static class AdvertisedAddress
{
    public static bool IsWildcard(IPAddress address) =>
        address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);

    /// <summary>The host to advertise for a worker bound to <paramref name="bound"/>.</summary>
    public static string For(IPAddress bound, string? explicitAddress)
    {
        ArgumentNullException.ThrowIfNull(bound);
        if (!string.IsNullOrWhiteSpace(explicitAddress))
        {
            return explicitAddress.Trim();
        }
        if (!IsWildcard(bound))
        {
            return bound.ToString();
        }
        var candidates = InterfaceAddresses().ToArray();
        var preferred = bound.AddressFamily == AddressFamily.InterNetwork
            ? candidates.FirstOrDefault(address => address.AddressFamily == AddressFamily.InterNetwork)
            : candidates.FirstOrDefault(address => address.AddressFamily == AddressFamily.InterNetworkV6)
              ?? candidates.FirstOrDefault();
        return preferred?.ToString() ?? Dns.GetHostName();
    }

    /// <summary>The loopback address a wildcard-bound worker is dialled at from its own machine (the same family).</summary>
    public static IPAddress LocalDialAddress(IPAddress bound) =>
        !IsWildcard(bound) ? bound
        : bound.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback;

    /// <summary>Unicast addresses of interfaces that are up, not loopback, and not IPv6 link-local (those need a scope).</summary>
    private static IEnumerable<IPAddress> InterfaceAddresses()
    {
        NetworkInterface[] interfaces;
        try
        {
            interfaces = NetworkInterface.GetAllNetworkInterfaces();
        }
        catch (NetworkInformationException)
        {
            yield break;
        }
        foreach (var networkInterface in interfaces)
        {
            if (networkInterface.OperationalStatus is not (OperationalStatus.Up or OperationalStatus.Unknown) || networkInterface.NetworkInterfaceType == NetworkInterfaceType.Loopback)
            {
                continue;
            }
            foreach (var unicast in networkInterface.GetIPProperties().UnicastAddresses)
            {
                var address = unicast.Address;
                if (!IPAddress.IsLoopback(address) && !address.IsIPv6LinkLocal && !address.IsIPv6Multicast)
                {
                    yield return address;
                }
            }
        }
    }
}
