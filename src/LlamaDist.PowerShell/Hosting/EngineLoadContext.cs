using System.Reflection;
using System.Runtime.Loader;

namespace LlamaDist.PowerShell.Hosting;

/// <summary>
/// The private load context that holds the engine and everything it depends on.
/// </summary>
/// <remarks>
/// Why: pwsh ships its own copies of some libraries (Humanizer 2.14 today) and runs on Microsoft.NETCore.App only,
/// so the engine's dependencies (Humanizer 3, later ASP.NET Core for the worker host) cannot live in the default
/// context. Probing order: module/bin/Dependencies/&lt;name&gt;.dll, then the ASP.NET Core shared framework of the
/// same major version as the running runtime; anything else (the BCL) falls through to the default context.
/// </remarks>
internal sealed class EngineLoadContext : AssemblyLoadContext
{
    private readonly string dependencyDirectory;
    private readonly string? aspNetCoreDirectory;

    public EngineLoadContext(string dependencyDirectory)
        : base("LlamaDist.Engine", isCollectible: false)
    {
        this.dependencyDirectory = dependencyDirectory;
        aspNetCoreDirectory = SharedFrameworkLocator.FindAspNetCoreDirectory();
    }

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        var fileName = assemblyName.Name + ".dll";
        var candidate = Path.Combine(dependencyDirectory, fileName);
        if (File.Exists(candidate))
        {
            return LoadFromAssemblyPath(candidate);
        }

        if (aspNetCoreDirectory is not null)
        {
            candidate = Path.Combine(aspNetCoreDirectory, fileName);
            if (File.Exists(candidate))
            {
                return LoadFromAssemblyPath(candidate);
            }
        }

        return null;
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        var candidate = Path.Combine(dependencyDirectory, unmanagedDllName);
        return File.Exists(candidate) ? LoadUnmanagedDllFromPath(candidate) : IntPtr.Zero;
    }
}
