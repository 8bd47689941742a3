using System.Runtime.InteropServices;

namespace LlamaDist.Core.Gguf;

/// <summary>
/// Drops this process's mapping of pages of a read-only file view on Linux (madvise MADV_DONTNEED): the pages stay
/// in the system's file cache, stop counting in the process's resident set, and a later read through the view
/// faults them back in with the same bytes. Other systems do nothing.
/// </summary>
internal static unsafe partial class MappedPages
{
    private const int DontNeed = 4; // MADV_DONTNEED

    /// <summary>Whether <see cref="Release"/> does anything here.</summary>
    public static bool Supported => OperatingSystem.IsLinux();

    /// <summary>
    /// Drops [start, start + bytes) from this process's mapping; both must be multiples of the page size. False
    /// where not supported or the call failed (nothing is lost: the pages just stay mapped).
    /// </summary>
    public static bool Release(byte* start, long bytes) =>
        Supported && bytes > 0 && Madvise(start, (nuint)bytes, DontNeed) == 0;

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(void* start, nuint length, int advice);
}
