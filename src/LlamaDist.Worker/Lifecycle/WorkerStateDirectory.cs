using System.Text.Json;

namespace LlamaDist.Worker.Lifecycle;

/// <summary>
/// The running worker executables of this user on this machine, one file each: &lt;directory&gt;/&lt;pid&gt;.json,
/// written by the worker once it listens and removed when it exits cleanly. The directory is private (0700, files
/// 0600). A worker that was killed leaves its file behind, and a later process may reuse its id, so readers keep
/// an entry only while a process with that id AND that start time runs; other entries are removed as stale.
/// </summary>
public sealed class WorkerStateDirectory
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>Largest state file read; anything bigger was not written by a worker.</summary>
    private const int MaxEntryBytes = 64 * 1024;

    public WorkerStateDirectory(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = System.IO.Path.GetFullPath(path);
    }

    public string Path { get; }

    /// <summary>$XDG_STATE_HOME/llamadist/workers, else ~/.local/state/llamadist/workers; LocalApplicationData\llamadist\workers on Windows.</summary>
    public static string DefaultPath => System.IO.Path.Combine(StateRoot, "workers");

    /// <summary>$XDG_STATE_HOME/llamadist (or ~/.local/state/llamadist; LocalApplicationData\llamadist on Windows).</summary>
    public static string StateRoot
    {
        get
        {
            var xdg = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
            var root = !string.IsNullOrEmpty(xdg) ? xdg
                : OperatingSystem.IsWindows() ? Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData)
                : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state");
            return System.IO.Path.Combine(root, "llamadist");
        }
    }

    public static WorkerStateDirectory Default => new(DefaultPath);

    public string FileOf(int processId) => System.IO.Path.Combine(Path, $"{processId}.json");

    /// <summary>Records <paramref name="entry"/>: written to a private temporary file, then renamed into place, so readers never see half of it.</summary>
    public void Write(WorkerStateEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        EnsurePrivateDirectory(Path);
        var target = FileOf(entry.ProcessId);
        var temporary = target + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using (var stream = new FileStream(temporary, options))
        {
            JsonSerializer.Serialize(stream, entry, Json);
        }
        File.Move(temporary, target, overwrite: true);
    }

    /// <summary>Removes the entry of <paramref name="processId"/> if there is one.</summary>
    public void Remove(int processId)
    {
        try
        {
            File.Delete(FileOf(processId));
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // Another reader removed it, or the directory is gone: nothing is left to clean.
        }
    }

    /// <summary>The entry of a running process, or null (no entry, a stale one, or an unreadable one).</summary>
    public WorkerStateEntry? Find(int processId) =>
        ReadLive().FirstOrDefault(entry => entry.ProcessId == processId);

    /// <summary>
    /// The entries whose process still runs (same id and start time), by process id. Entries of exited processes,
    /// of reused ids, and files that are not valid entries are deleted on the way.
    /// </summary>
    public IReadOnlyList<WorkerStateEntry> ReadLive()
    {
        if (!Directory.Exists(Path))
        {
            return [];
        }
        var live = new List<WorkerStateEntry>();
        foreach (var file in Directory.EnumerateFiles(Path, "*.json"))
        {
            var entry = TryRead(file);
            if (entry is not null && ProcessIdentity.IsRunning(entry.ProcessId, entry.ProcessStartTime))
            {
                live.Add(entry);
            }
            else if (entry is not null || IsOld(file))
            {
                TryDelete(file);
            }
        }
        return [.. live.OrderBy(entry => entry.ProcessId)];
    }

    private static WorkerStateEntry? TryRead(string file)
    {
        try
        {
            var info = new FileInfo(file);
            if (info.Length > MaxEntryBytes || !int.TryParse(System.IO.Path.GetFileNameWithoutExtension(file), out var processId))
            {
                return null;
            }
            var entry = JsonSerializer.Deserialize<WorkerStateEntry>(File.ReadAllText(file), Json);
            return entry is not null && entry.ProcessId == processId ? entry : null;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or JsonException or NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>An unparsable file is removed only once it is clearly not one being written right now.</summary>
    private static bool IsOld(string file)
    {
        try
        {
            return DateTime.UtcNow - File.GetLastWriteTimeUtc(file) > TimeSpan.FromMinutes(1);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static void TryDelete(string file)
    {
        try
        {
            File.Delete(file);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // Someone else's file in a shared directory, or already gone.
        }
    }

    /// <summary>Creates <paramref name="directory"/> (and missing parents) readable by this user only.</summary>
    internal static void EnsurePrivateDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
            return;
        }
        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }
}
