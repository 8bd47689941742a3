using System.Net;
using LlamaDist.Worker.Hosting;
using LlamaDist.Worker.Lifecycle;

namespace LlamaDist.Distributed.Tests.Lifecycle;

/// <summary>What a worker advertises: never a wildcard; an explicit address wins; a specific binding as it is.</summary>
public sealed class AdvertisedAddressTests
{
    [Fact]
    public void A_wildcard_binding_advertises_a_dialable_host()
    {
        foreach (var wildcard in new[] { IPAddress.Any, IPAddress.IPv6Any })
        {
            var advertised = AdvertisedAddress.For(wildcard, null);
            Assert.False(string.IsNullOrWhiteSpace(advertised));
            Assert.NotEqual("0.0.0.0", advertised);
            Assert.NotEqual("::", advertised);
            if (IPAddress.TryParse(advertised, out var address))
            {
                Assert.False(IPAddress.IsLoopback(address), advertised);
            }
            else
            {
                Assert.Equal(Dns.GetHostName(), advertised);
            }
        }
        Assert.Equal(IPAddress.Loopback, AdvertisedAddress.LocalDialAddress(IPAddress.Any));
        Assert.Equal(IPAddress.IPv6Loopback, AdvertisedAddress.LocalDialAddress(IPAddress.IPv6Any));
    }

    [Fact]
    public void An_explicit_address_wins_and_a_specific_binding_is_kept()
    {
        Assert.Equal("pc1.lan", AdvertisedAddress.For(IPAddress.Any, " pc1.lan "));
        Assert.Equal("127.0.0.1", AdvertisedAddress.For(IPAddress.Loopback, null));
        Assert.Equal(IPAddress.Loopback, AdvertisedAddress.LocalDialAddress(IPAddress.Loopback));
    }

    [Fact]
    public void The_lifecycle_options_are_parsed()
    {
        var options = WorkerCommandLine.Parse(
        [
            "--advertise-address", "pc1.lan", "--log-file", "worker.log", "--log-max-size", "65536", "--log-files", "5",
            "--state-directory", "state", "--detach", "true",
        ], _ => null)!;

        Assert.Equal("pc1.lan", options.AdvertiseAddress);
        Assert.Equal(Path.GetFullPath("worker.log"), options.LogFile);
        Assert.Equal(65536, options.LogMaxBytes);
        Assert.Equal(5, options.LogFiles);
        Assert.Equal(Path.GetFullPath("state"), options.StateDirectory);
        Assert.True(options.Detach);

        var defaults = WorkerCommandLine.Parse([], _ => null)!;
        Assert.Equal(WorkerStateDirectory.DefaultPath, defaults.StateDirectory);
        Assert.False(defaults.Detach);
        Assert.Null(WorkerCommandLine.Parse(["--state-directory", "none"], _ => null)!.StateDirectory);
        Assert.Throws<FormatException>(() => WorkerCommandLine.Parse(["--log-files", "0"], _ => null));
    }
}
