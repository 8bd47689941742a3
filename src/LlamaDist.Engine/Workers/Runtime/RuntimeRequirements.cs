using System.Collections.Concurrent;
using System.Globalization;
using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Workers.Runtime;

/// <summary>
/// Checks, before a worker starts, that the runtimes it needs are installed, and otherwise fails with
/// <see cref="LlamaErrorKind.RuntimeMissing"/> naming what to install: the embedded worker host needs the
/// ASP.NET Core shared framework in this process; a detached worker needs a dotnet host that has the frameworks
/// the worker executable's runtimeconfig.json asks for (Microsoft.NETCore.App and Microsoft.AspNetCore.App).
/// </summary>
public static class RuntimeRequirements
{
    internal const string AspNetCoreFramework = "Microsoft.AspNetCore.App";
    internal const string NetCoreFramework = "Microsoft.NETCore.App";

    /// <summary>How long `dotnet --list-runtimes` may take (it reads a few folders; a hung host must not hang us).</summary>
    internal static readonly TimeSpan ListRuntimesTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Hosts already found complete: they are checked once per process.</summary>
    private static readonly ConcurrentDictionary<string, bool> VerifiedHosts = new(StringComparer.Ordinal);

    /// <summary>Throws RuntimeMissing unless the embedded worker host can run in this process.</summary>
    public static void EnsureEmbeddedWorkerHost() => EnsureEmbeddedWorkerHost(SystemRuntimeProbe.Instance);

    /// <summary>The dotnet host to start the worker executable <paramref name="workerAssembly"/> with; throws RuntimeMissing when there is none fit for it.</summary>
    public static string EnsureDetachedWorkerHost(string workerAssembly) => EnsureDetachedWorkerHost(SystemRuntimeProbe.Instance, workerAssembly, useCache: true);

    internal static void EnsureEmbeddedWorkerHost(IRuntimeProbe probe)
    {
        if (probe.CanLoadAspNetCore()) return;
        var (version, location) = probe.ProcessRuntime;
        throw new LlamaDistException(LlamaErrorKind.RuntimeMissing,
            $"The worker host runs in this process and needs the ASP.NET Core shared runtime {AspNetCoreFramework} {version.Major}.0, " +
            $"which neither the .NET {version} runtime PowerShell runs on ({location}) nor a .NET installation of this machine has. " +
            $"Install {InstallAdvice(AspNetCoreFramework, version.Major)}, then start a new PowerShell session.",
            AspNetCoreFramework);
    }

    internal static string EnsureDetachedWorkerHost(IRuntimeProbe probe, string workerAssembly, bool useCache = false)
    {
        var required = probe.WorkerFrameworks(workerAssembly)
            ?? throw new LlamaDistException(LlamaErrorKind.RuntimeMissing,
                $"The worker executable's runtime configuration ({Path.ChangeExtension(workerAssembly, ".runtimeconfig.json")}) is missing or unreadable. Rebuild or reinstall the module.",
                workerAssembly);
        var major = required.Select(framework => framework.Version.Major).DefaultIfEmpty(probe.ProcessRuntime.Version.Major).Max();

        var host = probe.FindDotnetHost()
            ?? throw new LlamaDistException(LlamaErrorKind.RuntimeMissing,
                $"A detached worker runs on the dotnet host, and none was found (not this process, not under DOTNET_ROOT, not on PATH). " +
                $"Install {InstallAdvice(AspNetCoreFramework, major)}, which brings the .NET Runtime {major} and its dotnet host, and put dotnet on PATH.",
                "dotnet");
        if (useCache && VerifiedHosts.ContainsKey(host)) return host;

        var installed = probe.ListRuntimes(host, ListRuntimesTimeout)
            ?? throw new LlamaDistException(LlamaErrorKind.RuntimeMissing,
                $"'{host} --list-runtimes' failed or did not answer within {ListRuntimesTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s, " +
                $"so it cannot run the worker. Repair or reinstall {InstallAdvice(AspNetCoreFramework, major)}.",
                host);
        var missing = required.Where(need => !installed.Any(have => Satisfies(have, need))).ToArray();
        if (missing.Length > 0)
        {
            var names = string.Join(" and ", missing.Select(need => $"{need.Name} {need.Version.Major}.{need.Version.Minor}"));
            var present = installed.Count == 0 ? "none" : string.Join(", ", installed.Select(have => $"{have.Name} {have.Version}"));
            // Microsoft.AspNetCore.App's installer brings Microsoft.NETCore.App too: name it whenever it is missing.
            var advice = missing.Any(need => need.Name == AspNetCoreFramework) || missing.All(need => need.Name != NetCoreFramework)
                ? InstallAdvice(AspNetCoreFramework, missing.Max(need => need.Version.Major))
                : InstallAdvice(NetCoreFramework, missing.Max(need => need.Version.Major));
            throw new LlamaDistException(LlamaErrorKind.RuntimeMissing,
                $"The worker executable needs {names}, which the dotnet host {host} lacks (it has {present}). Install {advice}.",
                missing[0].Name);
        }
        if (useCache) VerifiedHosts[host] = true;
        return host;
    }

    /// <summary>An installed framework runs an app that asks for <paramref name="need"/>: same name and major, same or later version (the host's default roll-forward).</summary>
    internal static bool Satisfies(InstalledFramework have, InstalledFramework need) =>
        have.Name.Equals(need.Name, StringComparison.Ordinal) && have.Version.Major == need.Version.Major && have.Version >= need.Version;

    /// <summary>`dotnet --list-runtimes` lines ("Microsoft.AspNetCore.App 10.0.12 [/usr/share/dotnet/shared/...]") as frameworks; other lines are skipped.</summary>
    internal static IReadOnlyList<InstalledFramework> ParseListRuntimes(string output)
    {
        var frameworks = new List<InstalledFramework>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2 || !parts[0].StartsWith("Microsoft.", StringComparison.Ordinal)) continue;
            if (ParseVersion(parts[1]) is { } version) frameworks.Add(new InstalledFramework(parts[0], version));
        }
        return frameworks;
    }

    /// <summary>"10.0.0-rc.1.25451.107" → 10.0.0; null when it is not a version.</summary>
    internal static Version? ParseVersion(string text) =>
        Version.TryParse(text.Split('-', 2)[0], out var version) ? version : null;

    /// <summary>What to install, as the user would search for it, with where to get it.</summary>
    internal static string InstallAdvice(string framework, int major)
    {
        var product = framework == AspNetCoreFramework ? $"the ASP.NET Core Runtime {major}" : $"the .NET Runtime {major}";
        var package = framework == AspNetCoreFramework ? $"aspnetcore-runtime-{major}.0" : $"dotnet-runtime-{major}.0";
        var winget = framework == AspNetCoreFramework ? $"Microsoft.DotNet.AspNetCore.{major}" : $"Microsoft.DotNet.Runtime.{major}";
        return $"{product} ({framework} {major}.0): https://dotnet.microsoft.com/download/dotnet/{major}.0, " +
            $"or the package {package} (apt, dnf), or winget install {winget}";
    }
}
