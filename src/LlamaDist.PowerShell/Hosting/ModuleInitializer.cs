using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace LlamaDist.PowerShell.Hosting;

/// <summary>
/// Wires the cmdlet assembly (default load context) to the engine (private load context) when the module is imported.
/// </summary>
/// <remarks>
/// The cmdlet assembly is compiled against LlamaDist.Engine but the engine is not beside it. When a cmdlet first
/// touches an engine type, the default context fails to find LlamaDist.Engine and raises Resolving; this handler
/// answers for that one name only, from the private context, so the engine's own dependencies resolve there.
/// Only BCL types and the engine's plain result types cross the boundary.
/// </remarks>
public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private const string EngineAssemblyName = "LlamaDist.Engine";

    private static readonly Lazy<EngineLoadContext> LoadContext = new(() =>
        new EngineLoadContext(Path.Combine(
            Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!, "Dependencies")));

    public void OnImport()
    {
        AssemblyLoadContext.Default.Resolving += ResolveEngine;
    }

    public void OnRemove(PSModuleInfo module)
    {
        AssemblyLoadContext.Default.Resolving -= ResolveEngine;
    }

    private static Assembly? ResolveEngine(AssemblyLoadContext context, AssemblyName assemblyName)
    {
        return assemblyName.Name == EngineAssemblyName
            ? LoadContext.Value.LoadFromAssemblyName(assemblyName)
            : null;
    }
}
