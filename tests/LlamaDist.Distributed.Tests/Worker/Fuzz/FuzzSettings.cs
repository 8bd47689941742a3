namespace LlamaDist.Distributed.Tests.Worker.Fuzz;

/// <summary>
/// How many cases a fuzz test runs: its quick default in the ordinary test run, or LLAMADIST_FUZZ_ITERATIONS
/// (the long mode of build.ps1 -Task Fuzz). The seed stays fixed, so a failure reproduces; a longer run only
/// continues the same sequence further.
/// </summary>
internal static class FuzzSettings
{
    public const string IterationsVariable = "LLAMADIST_FUZZ_ITERATIONS";

    /// <summary>The trait build.ps1 -Task Fuzz selects.</summary>
    public const string Category = "Fuzz";

    public static int Iterations(int quickDefault) =>
        int.TryParse(Environment.GetEnvironmentVariable(IterationsVariable), out int iterations) && iterations > 0
            ? iterations
            : quickDefault;
}
