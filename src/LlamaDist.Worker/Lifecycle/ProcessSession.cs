using System.Runtime.InteropServices;

namespace LlamaDist.Worker.Lifecycle;

/// <summary>
/// Detaching the worker from the terminal it was started from (--detach true): on Linux and macOS it becomes the
/// leader of a new session (setsid(2)), so it has no controlling terminal and is in no process group of the
/// console: Ctrl+C (SIGINT to the console's foreground group) and closing the terminal (SIGHUP) do not reach it.
/// Its standard input, output and error are pointed at /dev/null, so no handle of the console or of its starter
/// remains open and a closed pipe can never fail a write. Windows starts it without a console
/// (Start-LlamaWorker creates it windowless with redirected handles), so nothing is needed there.
/// </summary>
public static partial class ProcessSession
{
    /// <summary>Detaches this process; false (and nothing changed) on Windows.</summary>
    public static bool Detach()
    {
        if (OperatingSystem.IsWindows())
        {
            return false;
        }
        // Fails only when this process already leads a process group (e.g. started through setsid): then it
        // has its own group already, and no terminal signals of its starter reach it.
        _ = CreateSession();
        var devNull = Open("/dev/null", 2 /* O_RDWR */);
        if (devNull >= 0)
        {
            for (var descriptor = 0; descriptor <= 2; descriptor++)
            {
                _ = Duplicate(devNull, descriptor);
            }
            if (devNull > 2)
            {
                _ = Close(devNull);
            }
        }
        return true;
    }

    [LibraryImport("libc", EntryPoint = "setsid", SetLastError = true)]
    private static partial int CreateSession();

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "dup2", SetLastError = true)]
    private static partial int Duplicate(int from, int to);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int descriptor);
}
