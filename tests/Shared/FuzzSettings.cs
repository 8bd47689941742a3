namespace LlamaDist.Tests.Shared;

/// <summary>
/// How many cases a fuzz test runs: its quick default in the ordinary test run, or LLAMADIST_FUZZ_ITERATIONS
/// (the long mode of build.ps1 -Task Fuzz). Linked into every test project that fuzzes. The seeds stay fixed either
/// way, so a failure reproduces; a longer run only continues the same sequence further.
/// </summary>
internal static class FuzzSettings
{
    public const string IterationsVariable = "LLAMADIST_FUZZ_ITERATIONS";

    /// <summary>The trait build.ps1 -Task Fuzz selects.</summary>
    public const string Category = "Fuzz";

    /// <summary>Set to explore other sequences (hex, e.g. 0x1234); a failure it finds reproduces with the same value.</summary>
    public const string SeedVariable = "LLAMADIST_FUZZ_SEED";

    public static ulong Seed(ulong fixedSeed)
    {
        string? text = Environment.GetEnvironmentVariable(SeedVariable);
        if (string.IsNullOrEmpty(text))
        {
            return fixedSeed;
        }
        string digits = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
        return ulong.TryParse(digits, System.Globalization.NumberStyles.HexNumber, null, out ulong seed)
            ? seed
            : throw new InvalidOperationException($"{SeedVariable} '{text}' is not a hexadecimal number.");
    }

    public static int Iterations(int quickDefault) =>
        int.TryParse(Environment.GetEnvironmentVariable(IterationsVariable), out int iterations) && iterations > 0
            ? iterations
            : quickDefault;
}
