using System.Management.Automation;

namespace LlamaDist.PowerShell.Completion;

/// <summary>What the completers share: the word as typed (without its opening quote) and quoting of what they offer.</summary>
internal static class CompletionText
{
    /// <summary>Most values a completer offers; a folder of thousands of files stays responsive.</summary>
    public const int MaximumResults = 500;

    /// <summary>The typed word without surrounding quotes, and the quote it was opened with ('\0' when none).</summary>
    public static (string Text, char Quote) Unquote(string? wordToComplete)
    {
        var word = wordToComplete ?? "";
        if (word.Length > 0 && word[0] is '\'' or '"')
        {
            var quote = word[0];
            var text = word.Length > 1 && word[^1] == quote ? word[1..^1] : word[1..];
            return (text, quote);
        }
        return (word, '\0');
    }

    /// <summary>
    /// <paramref name="value"/> as PowerShell source: quoted when it holds a space or a character the parser would
    /// read otherwise, in the quote the user opened (single by default; embedded quotes doubled, "$" and "`"
    /// escaped inside double quotes).
    /// </summary>
    public static string Quote(string value, char openedWith = '\0')
    {
        bool needsQuotes = openedWith != '\0' || value.Length == 0 || value.Any(c => char.IsWhiteSpace(c) || "'\"`$&@(){}[];,|<>#".Contains(c));
        if (!needsQuotes)
        {
            return value;
        }
        if (openedWith == '"')
        {
            return "\"" + value.Replace("`", "``").Replace("$", "`$").Replace("\"", "`\"") + "\"";
        }
        return "'" + value.Replace("'", "''") + "'";
    }

    /// <summary>The values starting with the typed word (case-insensitive), each offered once, quoted as needed.</summary>
    public static IEnumerable<CompletionResult> Matching(string? wordToComplete, IEnumerable<(string Value, string ToolTip)> candidates)
    {
        var (text, quote) = Unquote(wordToComplete);
        var pattern = new WildcardPattern(WildcardPattern.Escape(text) + "*", WildcardOptions.IgnoreCase);
        return candidates
            .Where(candidate => pattern.IsMatch(candidate.Value))
            .DistinctBy(candidate => candidate.Value, StringComparer.OrdinalIgnoreCase)
            .Take(MaximumResults)
            .Select(candidate => new CompletionResult(Quote(candidate.Value, quote), candidate.Value,
                CompletionResultType.ParameterValue, string.IsNullOrEmpty(candidate.ToolTip) ? candidate.Value : candidate.ToolTip));
    }
}
