using System.Globalization;
using LlamaDist.Engine.Formatting;

namespace LlamaDist.PowerShell.Output;

/// <summary>
/// The one convention the format views (LlamaDist.Format.ps1xml) and the output objects show sizes and times in:
/// binary units ("1.09 GiB", "560 MiB") and milliseconds with a precision that fits the value ("0.42", "12.3",
/// "1534"). Views call it as [LlamaDist.PowerShell.Output.DisplayFormat]::Bytes($_.BytesSent).
/// </summary>
public static class DisplayFormat
{
    /// <summary>Bytes in binary units, at most two decimals (Humanizer picks the unit).</summary>
    public static string Bytes(long bytes) => HumanReadable.Bytes(bytes);

    /// <summary>Milliseconds: two decimals below 10, one below 1000, none above.</summary>
    public static string Milliseconds(double milliseconds) => milliseconds switch
    {
        < 10 => milliseconds.ToString("0.00", CultureInfo.CurrentCulture),
        < 1000 => milliseconds.ToString("0.0", CultureInfo.CurrentCulture),
        _ => milliseconds.ToString("0", CultureInfo.CurrentCulture),
    };
}
