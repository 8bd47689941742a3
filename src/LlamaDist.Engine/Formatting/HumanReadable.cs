using System.Globalization;
using Humanizer;

namespace LlamaDist.Engine.Formatting;

/// <summary>Human-readable sizes and durations for views (Humanizer lives in the engine's load context).</summary>
public static class HumanReadable
{
    /// <summary>
    /// 1750560 -> "1.67 MiB", 1170378588 -> "1.09 GiB": binary units everywhere (sizes of models, weights, memory
    /// and traffic alike), at most two decimals, in the current culture. Humanizer picks the unit; its units are
    /// powers of 1024 written with SI symbols ("MB"), so the symbol is written the IEC way.
    /// </summary>
    public static string Bytes(long bytes)
    {
        ByteSize size = bytes.Bytes();
        string unit = size.LargestWholeNumberSymbol switch
        {
            ByteSize.KilobyteSymbol => "KiB",
            ByteSize.MegabyteSymbol => "MiB",
            ByteSize.GigabyteSymbol => "GiB",
            ByteSize.TerabyteSymbol => "TiB",
            _ => "B", // bytes, and bits for 0
        };
        double value = unit == "B" ? bytes : size.LargestWholeNumberValue;
        return string.Create(CultureInfo.CurrentCulture, $"{value:0.##} {unit}");
    }

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
