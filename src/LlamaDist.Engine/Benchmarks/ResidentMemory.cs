using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace LlamaDist.Engine.Benchmarks;

/// <summary>
/// This process's resident set (RSS): on Linux the second field of /proc/self/statm (pages resident, file-backed
/// mapped weights included) read without allocating; elsewhere the working set the runtime reports.
/// </summary>
internal static class ResidentMemory
{
    private static readonly long PageSize = Environment.SystemPageSize;

    public static long CurrentBytes()
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                using var handle = File.OpenHandle("/proc/self/statm");
                return ReadStatm(handle);
            }
            catch (IOException)
            {
                // Fall through to the runtime's figure.
            }
        }
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }

    /// <summary>Resident bytes from an open /proc/self/statm ("size resident shared text lib data dt", in pages).</summary>
    internal static long ReadStatm(SafeFileHandle handle)
    {
        Span<byte> buffer = stackalloc byte[128];
        var read = RandomAccess.Read(handle, buffer, 0);
        var text = buffer[..read];
        var space = text.IndexOf((byte)' ');
        if (space < 0) return 0;
        text = text[(space + 1)..];
        var end = text.IndexOf((byte)' ');
        if (end >= 0) text = text[..end];
        return long.TryParse(Encoding.ASCII.GetString(text), NumberStyles.None, CultureInfo.InvariantCulture, out var pages) ? pages * PageSize : 0;
    }
}
