using System.ComponentModel;
using System.Diagnostics;

namespace LlamaDist.Worker.Lifecycle;

/// <summary>
/// A process told apart from a later one that reuses its id: the id and the start time together. The start time
/// is recomputed by the system from the boot clock on every read (on Linux from clock ticks since boot), so two
/// reads of one process can differ by a few ticks; they count as the same within <see cref="Tolerance"/>, far
/// below the time a system needs to wrap around its whole process-id space.
/// </summary>
public static class ProcessIdentity
{
    public static readonly TimeSpan Tolerance = TimeSpan.FromSeconds(1);

    /// <summary>The start time of a running process in UTC.</summary>
    public static DateTime StartTimeOf(Process process)
    {
        ArgumentNullException.ThrowIfNull(process);
        return process.StartTime.ToUniversalTime();
    }

    /// <summary>This process's start time in UTC.</summary>
    public static DateTime CurrentStartTime()
    {
        using var self = Process.GetCurrentProcess();
        return StartTimeOf(self);
    }

    /// <summary>Whether <paramref name="process"/> still runs and is the one that started at <paramref name="startTimeUtc"/>.</summary>
    public static bool Matches(Process process, DateTime startTimeUtc)
    {
        ArgumentNullException.ThrowIfNull(process);
        try
        {
            return !process.HasExited && (StartTimeOf(process) - startTimeUtc.ToUniversalTime()).Duration() <= Tolerance;
        }
        catch (Exception exception) when (exception is InvalidOperationException or Win32Exception or NotSupportedException)
        {
            return false; // exited meanwhile, or not ours to inspect
        }
    }

    /// <summary>Whether the process <paramref name="processId"/> that started at <paramref name="startTimeUtc"/> still runs.</summary>
    public static bool IsRunning(int processId, DateTime startTimeUtc)
    {
        try
        {
            using var process = Process.GetProcessById(processId);
            return Matches(process, startTimeUtc);
        }
        catch (Exception exception) when (exception is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }
}
