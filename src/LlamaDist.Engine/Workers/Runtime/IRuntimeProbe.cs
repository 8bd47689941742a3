namespace LlamaDist.Engine.Workers.Runtime;

/// <summary>
/// What <see cref="RuntimeRequirements"/> asks of the machine, behind an interface so the decisions are tested
/// without uninstalling anything (<see cref="SystemRuntimeProbe"/> asks the real machine).
/// </summary>
internal interface IRuntimeProbe
{
    /// <summary>The runtime this process runs on: its version and where it lives (for messages).</summary>
    (Version Version, string Location) ProcessRuntime { get; }

    /// <summary>Whether the ASP.NET Core shared framework loads into the engine's load context here.</summary>
    bool CanLoadAspNetCore();

    /// <summary>The dotnet host a detached worker is started with, or null when there is none.</summary>
    string? FindDotnetHost();

    /// <summary>The frameworks <paramref name="dotnetHost"/> lists, or null when it failed or did not answer within <paramref name="timeout"/>.</summary>
    IReadOnlyList<InstalledFramework>? ListRuntimes(string dotnetHost, TimeSpan timeout);

    /// <summary>The frameworks the worker executable asks for (its runtimeconfig.json), or null when that file cannot be read.</summary>
    IReadOnlyList<InstalledFramework>? WorkerFrameworks(string workerAssembly);
}
