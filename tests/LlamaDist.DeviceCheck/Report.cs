using System.Globalization;
using System.Text;

namespace LlamaDist.DeviceCheck;

/// <summary>
/// The check's results as they come: every row goes to the console, to devicecheck.csv and to devicecheck.md at
/// once (files rewritten after each row), so a run cut short still leaves what it measured.
/// </summary>
internal sealed class Report
{
    private readonly List<string[]> rows = [];
    private readonly string csvPath;
    private readonly string markdownPath;
    private readonly TextWriter console;

    public Report(string directory, TextWriter console)
    {
        Directory.CreateDirectory(directory);
        csvPath = Path.Combine(directory, "devicecheck.csv");
        markdownPath = Path.Combine(directory, "devicecheck.md");
        this.console = console;
        Flush();
    }

    public static readonly string[] Columns = ["Section", "Check", "Backend", "Value", "Unit", "Status", "Detail"];

    public int Failures { get; private set; }

    public IReadOnlyList<string[]> Rows => rows;

    /// <summary>Status is "ok", "FAIL", "info" or "skipped".</summary>
    public void Add(string section, string check, string backend, double? value, string unit, string status, string detail = "")
    {
        string formatted = value is { } number ? number.ToString(number >= 100 ? "F1" : "G5", CultureInfo.InvariantCulture) : "";
        string[] row = [section, check, backend, formatted, unit, status, detail];
        rows.Add(row);
        if (status == "FAIL")
        {
            Failures++;
        }
        console.WriteLine($"[{status}] {section} / {check} / {backend}: {formatted} {unit} {detail}".TrimEnd());
        console.Flush();
        Flush();
    }

    private void Flush()
    {
        var csv = new StringBuilder();
        csv.AppendLine(string.Join(',', Columns));
        foreach (var row in rows)
        {
            csv.AppendLine(string.Join(',', row.Select(Quote)));
        }
        File.WriteAllText(csvPath, csv.ToString());

        var markdown = new StringBuilder();
        markdown.AppendLine("# LlamaDist device check");
        markdown.AppendLine();
        markdown.AppendLine("| " + string.Join(" | ", Columns) + " |");
        markdown.AppendLine("|" + string.Concat(Enumerable.Repeat("---|", Columns.Length)));
        foreach (var row in rows)
        {
            markdown.AppendLine("| " + string.Join(" | ", row.Select(cell => cell.Replace("|", "/"))) + " |");
        }
        File.WriteAllText(markdownPath, markdown.ToString());
    }

    private static string Quote(string cell) =>
        cell.IndexOfAny([',', '"', '\n']) >= 0 ? "\"" + cell.Replace("\"", "\"\"") + "\"" : cell;
}
