namespace LlamaDist.Engine.Workers.Runtime;

/// <summary>A shared framework, as `dotnet --list-runtimes` lists it or a runtimeconfig.json asks for it.</summary>
/// <param name="Name">Microsoft.NETCore.App, Microsoft.AspNetCore.App ...</param>
/// <param name="Version">Its version, prerelease label dropped (10.0.0-rc.1 is 10.0.0).</param>
internal sealed record InstalledFramework(string Name, Version Version);
