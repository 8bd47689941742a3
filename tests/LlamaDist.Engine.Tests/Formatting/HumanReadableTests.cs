using System.Globalization;
using LlamaDist.Engine.Formatting;

namespace LlamaDist.Engine.Tests.Formatting;

/// <summary>Sizes in one convention: binary units with IEC symbols, at most two decimals, in the current culture.</summary>
public sealed class HumanReadableTests
{
    [Theory]
    [InlineData(0L, "0 B")]
    [InlineData(512L, "512 B")]
    [InlineData(1023L, "1023 B")]
    [InlineData(1024L, "1 KiB")]
    [InlineData(1536L, "1.5 KiB")]
    [InlineData(1_750_560L, "1.67 MiB")]      // the embedded model
    [InlineData(1_170_378_588L, "1.09 GiB")]
    [InlineData(3L << 40, "3 TiB")]
    public void Bytes_are_binary_units(long bytes, string expected)
    {
        var culture = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
            Assert.Equal(expected, HumanReadable.Bytes(bytes));
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }
    }

    [Fact]
    public void Bytes_follow_the_current_culture()
    {
        var culture = CultureInfo.CurrentCulture;
        try
        {
            // A culture with a decimal comma, built from the invariant one (named cultures need ICU, which a
            // globalization-invariant runtime lacks).
            var comma = (CultureInfo)CultureInfo.InvariantCulture.Clone();
            comma.NumberFormat.NumberDecimalSeparator = ",";
            CultureInfo.CurrentCulture = comma;
            Assert.Equal("1,67 MiB", HumanReadable.Bytes(1_750_560));
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }
    }
}
