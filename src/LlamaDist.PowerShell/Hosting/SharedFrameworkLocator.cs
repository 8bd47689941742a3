namespace LlamaDist.PowerShell.Hosting;

/// <summary>Finds the ASP.NET Core shared framework that matches the runtime pwsh is running on.</summary>
internal static class SharedFrameworkLocator
{
    /// <summary>
    /// Returns &lt;dotnet root&gt;/shared/Microsoft.AspNetCore.App/&lt;newest version of the same major&gt;, or null when
    /// the runtime has none (a self-contained pwsh): the worker host then reports NotInstalled when first used.
    /// </summary>
    public static string? FindAspNetCoreDirectory()
    {
        // The BCL lives in <dotnet root>/shared/Microsoft.NETCore.App/<version>/.
        var runtimeDirectory = Path.GetDirectoryName(typeof(object).Assembly.Location);
        var sharedDirectory = runtimeDirectory is null ? null : Path.GetDirectoryName(Path.GetDirectoryName(runtimeDirectory));
        if (sharedDirectory is null)
        {
            return null;
        }

        var aspNetCoreRoot = Path.Combine(sharedDirectory, "Microsoft.AspNetCore.App");
        if (!Directory.Exists(aspNetCoreRoot))
        {
            return null;
        }

        var major = Environment.Version.Major;
        return Directory.GetDirectories(aspNetCoreRoot)
            .Select(path => (Path: path, Version: Version.TryParse(Path.GetFileName(path).Split('-')[0], out var v) ? v : null))
            .Where(entry => entry.Version is not null && entry.Version.Major == major)
            .OrderByDescending(entry => entry.Version)
            .Select(entry => entry.Path)
            .FirstOrDefault();
    }
}
