using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace LlamaDist.PowerShell.Completion;

/// <summary>
/// Model paths: the GGUF files (*.gguf) and the folders of the typed folder, relative to the current location or
/// absolute (~ is the home folder), quoted when a name has spaces. Folders are offered with a trailing separator
/// so the next Tab goes into them.
/// </summary>
public sealed class ModelPathCompleter : IArgumentCompleter
{
    /// <summary>Files offered besides folders; Start-LlamaWorker -ModelPath also takes a folder of models.</summary>
    private const string ModelPattern = "*.gguf";

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var (typed, quote) = CompletionText.Unquote(wordToComplete);
        int separator = typed.LastIndexOfAny(['/', '\\']);
        // The folder part as typed ("models/", "/data/", "~/m/") is kept, so relative stays relative.
        string typedFolder = separator >= 0 ? typed[..(separator + 1)] : "";
        string prefix = typed[(separator + 1)..];
        string folder = ResolveFolder(typedFolder);
        if (!Directory.Exists(folder))
        {
            return [];
        }

        var options = new EnumerationOptions { IgnoreInaccessible = true, MatchCasing = MatchCasing.CaseInsensitive, RecurseSubdirectories = false };
        var namePattern = new WildcardPattern(WildcardPattern.Escape(prefix) + "*", WildcardOptions.IgnoreCase);
        var folders = Directory.EnumerateDirectories(folder, "*", options)
            .Select(path => (Path: path, Name: System.IO.Path.GetFileName(path)))
            .Where(entry => namePattern.IsMatch(entry.Name) && (prefix.StartsWith('.') || !entry.Name.StartsWith('.')))
            .OrderBy(entry => entry.Name, StringComparer.OrdinalIgnoreCase)
            .Select(entry => Result(typedFolder + entry.Name + System.IO.Path.DirectorySeparatorChar, entry.Name, entry.Path, quote,
                CompletionResultType.ProviderContainer));
        var files = Directory.EnumerateFiles(folder, ModelPattern, options)
            .Select(path => (Path: path, Name: System.IO.Path.GetFileName(path)))
            .Where(entry => namePattern.IsMatch(entry.Name))
            .OrderBy(entry => entry.Name, StringComparer.OrdinalIgnoreCase)
            .Select(entry => Result(typedFolder + entry.Name, entry.Name, entry.Path, quote, CompletionResultType.ProviderItem));
        return folders.Concat(files).Take(CompletionText.MaximumResults).ToList();
    }

    private static CompletionResult Result(string text, string listText, string fullPath, char quote, CompletionResultType type) =>
        new(CompletionText.Quote(text, quote), listText, type, fullPath);

    /// <summary>The file-system folder the typed folder part names, relative to the session's current location.</summary>
    private static string ResolveFolder(string typedFolder)
    {
        string folder = typedFolder;
        if (folder == "~" || folder.StartsWith("~/", StringComparison.Ordinal) || folder.StartsWith("~\\", StringComparison.Ordinal))
        {
            folder = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) + folder[1..];
        }
        return System.IO.Path.GetFullPath(folder.Length == 0 ? "." : folder, CurrentLocation());
    }

    /// <summary>The session's file-system location (Set-Location does not change the process's current directory).</summary>
    private static string CurrentLocation()
    {
        try
        {
            using var shell = System.Management.Automation.PowerShell.Create(RunspaceMode.CurrentRunspace);
            var location = shell.AddCommand("Microsoft.PowerShell.Management\\Get-Location").AddParameter("PSProvider", "FileSystem")
                .Invoke<PathInfo>().FirstOrDefault();
            if (location is not null)
            {
                return location.ProviderPath;
            }
        }
        catch (Exception exception) when (exception is InvalidOperationException or PSInvalidOperationException or RuntimeException)
        {
            // No runspace on this thread (a completer called from elsewhere): the process's directory is the best guess.
        }
        return Environment.CurrentDirectory;
    }
}
