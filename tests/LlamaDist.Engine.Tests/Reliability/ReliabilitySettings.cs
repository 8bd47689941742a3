namespace LlamaDist.Engine.Tests.Reliability;

/// <summary>
/// The trait of the long reliability runs (fault injection with real processes, load, hand-off measurements):
/// run by `build.ps1 -Task Reliability`, left out of the Test task.
/// </summary>
internal static class ReliabilitySettings
{
    public const string Category = "Reliability";
}
