using System.Runtime.InteropServices;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Which CPUs a thread may run on, set from the thread itself: Linux sched_setaffinity(2) on the calling thread
/// (and on any thread of this process by id, for pinning a whole process), Windows SetThreadAffinityMask (the
/// first 64 CPUs, one processor group). Elsewhere nothing is supported and every call reports false.
/// </summary>
public static partial class ThreadAffinity
{
    /// <summary>The highest CPU number a set may name (the kernel's default cpu_set_t holds 1024).</summary>
    public const int MaxCpu = 1023;

    /// <summary>Bytes of a Linux CPU mask holding <see cref="MaxCpu"/>.</summary>
    public const int LinuxMaskBytes = (MaxCpu + 1) / 8;

    public static bool IsSupported => OperatingSystem.IsLinux() || OperatingSystem.IsWindows();

    /// <summary>A Linux CPU mask with <paramref name="cpus"/> set.</summary>
    public static byte[] LinuxMask(ReadOnlySpan<int> cpus)
    {
        var mask = new byte[LinuxMaskBytes];
        foreach (int cpu in cpus)
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)cpu, (uint)MaxCpu, nameof(cpus));
            mask[cpu >> 3] |= (byte)(1 << (cpu & 7));
        }
        return mask;
    }

    /// <summary>Restricts the calling thread to <paramref name="cpus"/>; false where that is not possible here.</summary>
    public static bool TrySetCurrentThread(ReadOnlySpan<int> cpus)
    {
        if (cpus.IsEmpty)
        {
            return false;
        }
        if (OperatingSystem.IsLinux())
        {
            return LinuxSet(0, LinuxMask(cpus)) == 0;
        }
        if (OperatingSystem.IsWindows())
        {
            nuint mask = 0;
            foreach (int cpu in cpus)
            {
                if ((uint)cpu >= 64)
                {
                    return false;
                }
                mask |= (nuint)1 << cpu;
            }
            return WindowsSetThreadMask(WindowsCurrentThread(), mask) != 0;
        }
        return false;
    }

    /// <summary>sched_setaffinity(2) for thread <paramref name="threadId"/> (0: the caller); 0 or -1 with the errno in <see cref="Marshal.GetLastPInvokeError"/>.</summary>
    [LibraryImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
    public static partial int LinuxSet(int threadId, nint maskBytes, byte[] mask);

    /// <summary>sched_getaffinity(2) for thread <paramref name="threadId"/> (0: the caller).</summary>
    [LibraryImport("libc", EntryPoint = "sched_getaffinity", SetLastError = true)]
    public static partial int LinuxGet(int threadId, nint maskBytes, [Out] byte[] mask);

    private static int LinuxSet(int threadId, byte[] mask) => LinuxSet(threadId, mask.Length, mask);

    [LibraryImport("kernel32", EntryPoint = "GetCurrentThread")]
    private static partial nint WindowsCurrentThread();

    [LibraryImport("kernel32", EntryPoint = "SetThreadAffinityMask", SetLastError = true)]
    private static partial nuint WindowsSetThreadMask(nint thread, nuint mask);
}
