using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Workers.Runtime;

namespace LlamaDist.Engine.Tests.Workers;

/// <summary>
/// What a worker needs installed, decided through a probe that stands in for the machine: a missing ASP.NET Core
/// shared framework or dotnet host is RuntimeMissing naming what to install; a complete installation passes. The
/// real probe is checked against this machine, which has both (the tests run on it).
/// </summary>
public sealed class RuntimeRequirementsTests
{
    private const string WorkerDll = "/opt/llamadist/bin/Dependencies/LlamaDist.Worker.dll";

    private static readonly InstalledFramework[] RequiredByWorker =
    [
        new(RuntimeRequirements.NetCoreFramework, new Version(10, 0, 0)),
        new(RuntimeRequirements.AspNetCoreFramework, new Version(10, 0, 0)),
    ];

    [Fact]
    public void The_embedded_host_without_AspNetCore_names_the_AspNetCore_runtime_to_install()
    {
        var probe = new FakeProbe { AspNetCoreLoads = false };

        var error = Assert.Throws<LlamaDistException>(() => RuntimeRequirements.EnsureEmbeddedWorkerHost(probe));

        Assert.Equal(LlamaErrorKind.RuntimeMissing, error.Kind);
        Assert.Equal("Microsoft.AspNetCore.App", error.Target);
        Assert.Contains("Microsoft.AspNetCore.App 10.0", error.Message);
        Assert.Contains("install the ASP.NET Core Runtime 10", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("aspnetcore-runtime-10.0", error.Message);
        Assert.Contains("/opt/microsoft/powershell/7", error.Message);
    }

    [Fact]
    public void The_embedded_host_with_AspNetCore_passes()
    {
        RuntimeRequirements.EnsureEmbeddedWorkerHost(new FakeProbe { AspNetCoreLoads = true });
    }

    [Fact]
    public void A_detached_worker_without_a_dotnet_host_names_what_brings_one()
    {
        var probe = new FakeProbe { DotnetHost = null };

        var error = Assert.Throws<LlamaDistException>(() => RuntimeRequirements.EnsureDetachedWorkerHost(probe, WorkerDll));

        Assert.Equal(LlamaErrorKind.RuntimeMissing, error.Kind);
        Assert.Equal("dotnet", error.Target);
        Assert.Contains("PATH", error.Message);
        Assert.Contains("ASP.NET Core Runtime 10", error.Message);
        Assert.Equal(0, probe.ListCalls);
    }

    [Fact]
    public void A_dotnet_host_with_only_the_NET_runtime_lacks_AspNetCore()
    {
        var probe = new FakeProbe { Installed = [new(RuntimeRequirements.NetCoreFramework, new Version(10, 0, 12))] };

        var error = Assert.Throws<LlamaDistException>(() => RuntimeRequirements.EnsureDetachedWorkerHost(probe, WorkerDll));

        Assert.Equal(LlamaErrorKind.RuntimeMissing, error.Kind);
        Assert.Equal("Microsoft.AspNetCore.App", error.Target);
        Assert.Contains("needs Microsoft.AspNetCore.App 10.0, which the dotnet host /usr/bin/dotnet lacks", error.Message);
        Assert.Contains("it has Microsoft.NETCore.App 10.0.12", error.Message);
        Assert.Contains("ASP.NET Core Runtime 10", error.Message);
    }

    [Fact]
    public void A_dotnet_host_of_another_major_version_does_not_do()
    {
        var probe = new FakeProbe
        {
            Installed = [new(RuntimeRequirements.NetCoreFramework, new Version(9, 0, 8)), new(RuntimeRequirements.AspNetCoreFramework, new Version(9, 0, 8)),
                new(RuntimeRequirements.NetCoreFramework, new Version(11, 0, 0))],
        };

        var error = Assert.Throws<LlamaDistException>(() => RuntimeRequirements.EnsureDetachedWorkerHost(probe, WorkerDll));

        Assert.Contains("Microsoft.NETCore.App 10.0 and Microsoft.AspNetCore.App 10.0", error.Message);
    }

    [Fact]
    public void A_complete_dotnet_host_is_returned_and_later_patches_satisfy_the_worker()
    {
        var probe = new FakeProbe
        {
            Installed = [new(RuntimeRequirements.NetCoreFramework, new Version(10, 0, 12)), new(RuntimeRequirements.AspNetCoreFramework, new Version(10, 1, 3))],
        };

        Assert.Equal("/usr/bin/dotnet", RuntimeRequirements.EnsureDetachedWorkerHost(probe, WorkerDll));
        Assert.Equal(1, probe.ListCalls);
        Assert.Equal(RuntimeRequirements.ListRuntimesTimeout, probe.ListTimeout);
    }

    [Fact]
    public void A_host_that_does_not_answer_is_RuntimeMissing_naming_the_host()
    {
        var probe = new FakeProbe { Installed = null };

        var error = Assert.Throws<LlamaDistException>(() => RuntimeRequirements.EnsureDetachedWorkerHost(probe, WorkerDll));

        Assert.Equal(LlamaErrorKind.RuntimeMissing, error.Kind);
        Assert.Equal("/usr/bin/dotnet", error.Target);
        Assert.Contains("--list-runtimes' failed or did not answer within 10 s", error.Message);
    }

    [Fact]
    public void A_worker_without_its_runtime_configuration_says_to_reinstall()
    {
        var probe = new FakeProbe { WorkerNeeds = null };

        var error = Assert.Throws<LlamaDistException>(() => RuntimeRequirements.EnsureDetachedWorkerHost(probe, WorkerDll));

        Assert.Equal(LlamaErrorKind.RuntimeMissing, error.Kind);
        Assert.Contains("LlamaDist.Worker.runtimeconfig.json", error.Message);
        Assert.Contains("reinstall the module", error.Message);
    }

    [Fact]
    public void List_runtimes_output_is_parsed_and_prerelease_labels_dropped()
    {
        const string output = """
            Microsoft.AspNetCore.App 10.0.12 [/usr/share/dotnet/shared/Microsoft.AspNetCore.App]
            Microsoft.NETCore.App 10.0.0-rc.1.25451.107 [/usr/share/dotnet/shared/Microsoft.NETCore.App]
            Microsoft.WindowsDesktop.App 9.0.8 [C:\Program Files\dotnet\shared\Microsoft.WindowsDesktop.App]
            warning: something the host printed
            Microsoft.Broken.App not-a-version [/x]
            """;

        var frameworks = RuntimeRequirements.ParseListRuntimes(output.Replace("\n", "\r\n"));

        Assert.Equal(
            [new InstalledFramework("Microsoft.AspNetCore.App", new Version(10, 0, 12)), new InstalledFramework("Microsoft.NETCore.App", new Version(10, 0, 0)),
                new InstalledFramework("Microsoft.WindowsDesktop.App", new Version(9, 0, 8))],
            frameworks);
    }

    [Fact]
    public void The_system_probe_finds_this_machines_dotnet_host_and_the_worker_needs()
    {
        // The test host runs on a dotnet installation with ASP.NET Core (the worker project references it).
        var probe = SystemRuntimeProbe.Instance;
        Assert.True(probe.CanLoadAspNetCore());

        var host = probe.FindDotnetHost();
        Assert.NotNull(host);
        Assert.True(File.Exists(host), host);
        var installed = probe.ListRuntimes(host!, RuntimeRequirements.ListRuntimesTimeout);
        Assert.NotNull(installed);
        Assert.Contains(installed!, framework => framework.Name == "Microsoft.NETCore.App" && framework.Version.Major == Environment.Version.Major);

        var workerDll = Path.Combine(AppContext.BaseDirectory, "LlamaDist.Worker.dll");
        var needs = probe.WorkerFrameworks(workerDll);
        Assert.NotNull(needs);
        Assert.Contains(needs!, framework => framework.Name == "Microsoft.AspNetCore.App");
        Assert.Equal(host, RuntimeRequirements.EnsureDetachedWorkerHost(probe, workerDll));
    }

    private sealed class FakeProbe : IRuntimeProbe
    {
        public bool AspNetCoreLoads { get; init; } = true;

        public string? DotnetHost { get; init; } = "/usr/bin/dotnet";

        public IReadOnlyList<InstalledFramework>? Installed { get; init; } = RequiredByWorker;

        public IReadOnlyList<InstalledFramework>? WorkerNeeds { get; init; } = RequiredByWorker;

        public int ListCalls { get; private set; }

        public TimeSpan ListTimeout { get; private set; }

        public (Version Version, string Location) ProcessRuntime => (new Version(10, 0, 12), "/opt/microsoft/powershell/7");

        public bool CanLoadAspNetCore() => AspNetCoreLoads;

        public string? FindDotnetHost() => DotnetHost;

        public IReadOnlyList<InstalledFramework>? ListRuntimes(string dotnetHost, TimeSpan timeout)
        {
            ListCalls++;
            ListTimeout = timeout;
            return Installed;
        }

        public IReadOnlyList<InstalledFramework>? WorkerFrameworks(string workerAssembly) => WorkerNeeds;
    }
}
