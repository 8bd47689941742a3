using System.Runtime.InteropServices;

namespace LlamaDist.Core.Gguf;

/// <summary>
/// Transparent huge pages on Linux: whether the kernel offers them, and the advice that asks for them on a block
/// of anonymous memory. Other systems report no support and the advice does nothing.
/// </summary>
public static unsafe partial class HugePages
{
    private const int MadviseHugePage = 14; // MADV_HUGEPAGE

    private const string SettingPath = "/sys/kernel/mm/transparent_hugepage/enabled";

    /// <summary>
    /// True on Linux when transparent huge pages are enabled "always" or on "madvise" (the setting reads like
    /// "always [madvise] never", the bracket marking the active choice).
    /// </summary>
    public static bool Available { get; } = ReadAvailable();

    /// <summary>Asks the kernel to back [start, start + bytes) with huge pages; false when it is not possible.</summary>
    public static bool Advise(byte* start, long bytes) =>
        Available && Madvise(start, (nuint)bytes, MadviseHugePage) == 0;

    private static bool ReadAvailable()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        try
        {
            string setting = File.ReadAllText(SettingPath);
            return setting.Contains("[always]", StringComparison.Ordinal) ||
                setting.Contains("[madvise]", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(void* start, nuint length, int advice);
}
