using System.Diagnostics;
using System.Globalization;

namespace LlamaDist.Engine.Tests.TestModels;

/// <summary>
/// A temporary folder owned by this test process, named <c>&lt;prefix&gt;-&lt;pid&gt;</c> under the temp path, for
/// fixtures that write large model files once per run.
/// Deleting it at process exit is not enough: the test host is often ended without running exit handlers, and each
/// run then leaves gigabytes behind (enough, over a day of runs, to fill a disk). So creating one also removes the
/// folders with the same prefix whose process is gone. A folder whose process still runs is left alone, so two
/// test runs side by side do not delete each other's files.
/// </summary>
public static class ProcessTempDirectory
{
    /// <summary>Creates (or reuses) this process's folder for <paramref name="prefix"/> after sweeping stale ones.</summary>
    public static string Create(string prefix) => Create(Path.GetTempPath(), prefix, Environment.ProcessId, IsRunning);

    /// <summary>
    /// The same in <paramref name="root"/> for process <paramref name="processId"/>, with <paramref name="isRunning"/>
    /// deciding which other owners still live (a seam for tests).
    /// </summary>
    internal static string Create(string root, string prefix, int processId, Func<int, bool> isRunning)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix);
        SweepStale(root, prefix, processId, isRunning);
        var directory = Path.Combine(root, $"{prefix}-{processId.ToString(CultureInfo.InvariantCulture)}");
        Directory.CreateDirectory(directory);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(directory);
        return directory;
    }

    /// <summary>
    /// Deletes <c>&lt;prefix&gt;-&lt;pid&gt;</c> folders in <paramref name="root"/> whose pid is neither ours nor a running
    /// process. Names with anything but digits after the prefix are not ours to judge and stay.
    /// </summary>
    internal static void SweepStale(string root, string prefix, int processId, Func<int, bool> isRunning)
    {
        if (!Directory.Exists(root)) return;
        foreach (var candidate in Directory.EnumerateDirectories(root, prefix + "-*"))
        {
            // NumberStyles.None takes digits only: no sign, no spaces, so "prefix-12-old" or "prefix-x" stay.
            var suffix = Path.GetFileName(candidate).AsSpan(prefix.Length + 1);
            if (!int.TryParse(suffix, NumberStyles.None, CultureInfo.InvariantCulture, out var owner)) continue;
            if (owner == processId || isRunning(owner)) continue;
            TryDelete(candidate);
        }
    }

    /// <summary>Whether a process with this id runs now.</summary>
    internal static bool IsRunning(int processId)
    {
        try
        {
            using var process = Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException) { return false; }       // no such process
        catch (InvalidOperationException) { return false; } // it exited while we looked
    }

    private static void TryDelete(string directory)
    {
        try { Directory.Delete(directory, recursive: true); }
        catch (IOException) { }                  // still in use or already gone: the next sweep tries again
        catch (UnauthorizedAccessException) { }
    }
}
