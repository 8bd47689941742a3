using System.Diagnostics;
using System.Runtime.InteropServices;

namespace LlamaDist.Engine.Workers;

/// <summary>How <see cref="DetachedWorkerStopper.Stop"/> ended a detached worker.</summary>
public enum DetachedWorkerStop
{
    /// <summary>No process with that id and start time runs any more (it exited, or the id now names another process).</summary>
    NotRunning,

    /// <summary>The worker shut down on its own after SIGTERM: Kestrel stopped listening and the process exited.</summary>
    Graceful,

    /// <summary>The process was killed: no graceful signal on this platform, or it did not exit within the grace period.</summary>
    Killed,
}

/// <summary>
/// Stops a worker started with Start-LlamaWorker -Detached. On Linux and macOS it sends SIGTERM, which the worker
/// handles like Ctrl+C (the host stops, sessions end, the process exits 0), and kills it only if it has not
/// exited within the grace period; Windows has no such signal for a windowless process, so there it is killed.
/// The process start time recorded at launch must match, so a process id the system has since reused for
/// another program is never touched.
/// </summary>
public static partial class DetachedWorkerStopper
{
    /// <summary>How long a worker gets to exit after SIGTERM before it is killed.</summary>
    public static readonly TimeSpan GracePeriod = TimeSpan.FromSeconds(10);

    private const int SignalTerminate = 15;

    public static DetachedWorkerStop Stop(int processId, DateTime processStartTime)
    {
        Process process;
        try
        {
            process = Process.GetProcessById(processId);
        }
        catch (ArgumentException)
        {
            return DetachedWorkerStop.NotRunning;
        }
        using (process)
        {
            if (!IsSameProcess(process, processStartTime))
            {
                return DetachedWorkerStop.NotRunning;
            }
            if (!OperatingSystem.IsWindows() && Terminate(processId) && process.WaitForExit(GracePeriod))
            {
                return DetachedWorkerStop.Graceful;
            }
            try
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(GracePeriod);
            }
            catch (InvalidOperationException)
            {
                return DetachedWorkerStop.Graceful; // exited between the wait and the kill
            }
            return DetachedWorkerStop.Killed;
        }
    }

    /// <summary>The start time of a running process, to tell it apart from a later one with the same id.</summary>
    public static DateTime StartTimeOf(Process process) => Worker.Lifecycle.ProcessIdentity.StartTimeOf(process);

    private static bool IsSameProcess(Process process, DateTime processStartTime) =>
        Worker.Lifecycle.ProcessIdentity.Matches(process, processStartTime);

    /// <summary>Waits up to <paramref name="timeout"/> for the process to exit; true when it is gone.</summary>
    public static bool WaitForExit(int processId, DateTime processStartTime, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (Worker.Lifecycle.ProcessIdentity.IsRunning(processId, processStartTime))
        {
            if (clock.Elapsed >= timeout)
            {
                return false;
            }
            Thread.Sleep(50);
        }
        return true;
    }

    private static bool Terminate(int processId) => SendSignal(processId, SignalTerminate) == 0;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int processId, int signal);
}
