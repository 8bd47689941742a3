using Humanizer;

namespace LlamaDist.Engine.Formatting;

/// <summary>Human-readable sizes and durations for views (Humanizer lives in the engine's load context).</summary>
public static class HumanReadable
{
    /// <summary>1750560 -> "1.67 MB".</summary>
    public static string Bytes(long bytes) => bytes.Bytes().Humanize("0.##");

    /// <summary>1234.5 ms -> "1 second, 234 milliseconds".</summary>
    public static string Duration(double milliseconds) =>
        TimeSpan.FromMilliseconds(milliseconds).Humanize(precision: 2);

    /// <summary>1100048384 -> "1.1B" (parameter counts the way model cards write them).</summary>
    public static string Count(long count) => count switch
    {
        >= 1_000_000_000 => $"{count / 1e9:0.##}B",
        >= 1_000_000 => $"{count / 1e6:0.##}M",
        >= 1_000 => $"{count / 1e3:0.##}K",
        _ => count.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
