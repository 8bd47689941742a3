using System.Runtime.InteropServices;

namespace LlamaDist.PowerShell.Hosting;

/// <summary>Finds the ASP.NET Core shared framework the embedded worker host loads from.</summary>
/// <remarks>
/// Its assemblies are IL built against the runtime's reference surface: any Microsoft.AspNetCore.App of the same
/// major version as the runtime pwsh runs on will do. Where: first beside that runtime (a framework-dependent pwsh,
/// such as the dotnet tool, runs on a .NET installation whose shared/ folder may hold it); then in the .NET
/// installations a machine has (a stock pwsh is self-contained and carries no ASP.NET Core, but installing the
/// ASP.NET Core Runtime puts one in the usual dotnet root). When none is found the worker reports RuntimeMissing
/// on first use (LlamaDist.Engine RuntimeRequirements), naming what to install.
/// </remarks>
internal static class SharedFrameworkLocator
{
    private const string AspNetCoreFramework = "Microsoft.AspNetCore.App";

    /// <summary>&lt;dotnet root&gt;/shared/Microsoft.AspNetCore.App/&lt;newest version of the runtime's major&gt;, or null.</summary>
    public static string? FindAspNetCoreDirectory() =>
        CandidateRoots()
            .Select(root => NewestOfMajor(Path.Combine(root, "shared", AspNetCoreFramework), Environment.Version.Major))
            .FirstOrDefault(directory => directory is not null);

    /// <summary>dotnet roots in the order they are searched (duplicates and missing ones included; filtered by the caller).</summary>
    private static IEnumerable<string> CandidateRoots()
    {
        // The BCL lives in <dotnet root>/shared/Microsoft.NETCore.App/<version>/ (or in $PSHOME when self-contained).
        var runtimeDirectory = Path.GetDirectoryName(typeof(object).Assembly.Location);
        var runtimeRoot = runtimeDirectory is null ? null : Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(runtimeDirectory)));
        if (runtimeRoot is not null) yield return runtimeRoot;

        foreach (var variable in new[] { "DOTNET_ROOT", RuntimeInformation.ProcessArchitecture == Architecture.X86 ? "DOTNET_ROOT(x86)" : "DOTNET_ROOT_" + RuntimeInformation.ProcessArchitecture.ToString().ToUpperInvariant() })
        {
            if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } root) yield return root;
        }

        if (DotnetOnPath() is { } dotnetRoot) yield return dotnetRoot;

        if (OperatingSystem.IsWindows())
        {
            yield return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ProgramFiles), "dotnet");
        }
        else
        {
            foreach (var root in new[] { "/usr/share/dotnet", "/usr/lib/dotnet", "/usr/local/share/dotnet", "/opt/dotnet" }) yield return root;
            yield return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet");
        }
    }

    /// <summary>The folder of the dotnet executable PATH resolves to (symbolic links followed: /usr/bin/dotnet).</summary>
    private static string? DotnetOnPath()
    {
        var fileName = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            try
            {
                var candidate = new FileInfo(Path.Combine(directory, fileName));
                if (!candidate.Exists) continue;
                var target = candidate.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? candidate;
                return target.DirectoryName;
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or ArgumentException)
            {
                // An unreadable or malformed PATH entry: the next one may do.
            }
        }
        return null;
    }

    private static string? NewestOfMajor(string frameworkDirectory, int major)
    {
        try
        {
            if (!Directory.Exists(frameworkDirectory)) return null;
            return Directory.GetDirectories(frameworkDirectory)
                .Select(path => (Path: path, Version: Version.TryParse(Path.GetFileName(path).Split('-')[0], out var v) ? v : null))
                .Where(entry => entry.Version is not null && entry.Version.Major == major
                    && File.Exists(Path.Combine(entry.Path, "Microsoft.AspNetCore.dll")))
                .OrderByDescending(entry => entry.Version)
                .Select(entry => entry.Path)
                .FirstOrDefault();
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
