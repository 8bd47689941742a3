using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Worker.Lifecycle;

/// <summary>
/// Pins a worker process to a set of logical CPUs (--cpu-affinity 0,2-3, Start-LlamaWorker -CpuAffinity), as
/// taskset(1) or llama.cpp's --cpu-mask do. Workers sharing a machine each get cores of their own: a shard of a
/// tensor split then is not moved onto the core where its peer computes (on a 2-core machine the scheduler did
/// that often enough to triple the cost of a partial sum's send), and a worker beside other work stays on its share.
/// <para>Linux: sched_setaffinity(2) on every thread in /proc/self/task; threads started later inherit their
/// starter's set, so the compute threads, Kestrel's and the runtime's all stay inside it. Windows: the process's
/// affinity mask (the first 64 CPUs, one processor group). Elsewhere (macOS has no affinity call) it is refused.</para>
/// </summary>
public static class ProcessorAffinity
{
    /// <summary>The highest CPU number a set may name (the kernel's default cpu_set_t holds 1024).</summary>
    public const int MaxCpu = ThreadAffinity.MaxCpu;

    public static bool IsSupported => OperatingSystem.IsLinux() || OperatingSystem.IsWindows();

    /// <summary>The CPUs this process may run on now, ascending.</summary>
    public static int[] Available()
    {
        if (OperatingSystem.IsLinux())
        {
            var mask = new byte[ThreadAffinity.LinuxMaskBytes];
            if (ThreadAffinity.LinuxGet(0, mask.Length, mask) != 0)
            {
                throw new InvalidOperationException($"sched_getaffinity failed (errno {Marshal.GetLastPInvokeError()}).");
            }
            return Enumerable.Range(0, MaxCpu + 1).Where(cpu => (mask[cpu >> 3] & (1 << (cpu & 7))) != 0).ToArray();
        }
        if (OperatingSystem.IsWindows())
        {
            long mask = System.Diagnostics.Process.GetCurrentProcess().ProcessorAffinity;
            return Enumerable.Range(0, 64).Where(cpu => ((mask >> cpu) & 1) != 0).ToArray();
        }
        return Enumerable.Range(0, Environment.ProcessorCount).ToArray();
    }

    /// <summary>
    /// Why <paramref name="cpus"/> cannot be used here (a sentence), or null when it can: the platform must support
    /// affinity and every CPU must be one this process may already run on.
    /// </summary>
    public static string? Problem(IReadOnlyCollection<int> cpus)
    {
        if (cpus.Count == 0)
        {
            return "The CPU affinity names no CPU.";
        }
        if (!IsSupported)
        {
            return $"CPU affinity is not supported on {RuntimeInformation.OSDescription} (Linux and Windows only).";
        }
        var available = Available();
        var missing = cpus.Where(cpu => Array.BinarySearch(available, cpu) < 0).Distinct().Order().ToArray();
        return missing.Length == 0 ? null
            : $"CPU {Format(missing)} {(missing.Length == 1 ? "is" : "are")} not available to this process (it may run on {Format(available)}).";
    }

    /// <summary>
    /// Pins every thread of this process to <paramref name="cpus"/>; throws <see cref="ArgumentException"/> with
    /// <see cref="Problem"/>'s sentence when the set cannot be used.
    /// </summary>
    public static void Apply(IReadOnlyCollection<int> cpus)
    {
        if (Problem(cpus) is { } problem)
        {
            throw new ArgumentException(problem, nameof(cpus));
        }
        if (OperatingSystem.IsWindows())
        {
            System.Diagnostics.Process.GetCurrentProcess().ProcessorAffinity = (nint)cpus.Aggregate(0L, (mask, cpu) => mask | (1L << cpu));
            return;
        }
        var linuxMask = ThreadAffinity.LinuxMask([.. cpus]);
        // A thread started while the list is read inherits its starter's old set when the starter was not pinned
        // yet: read the list again until a pass finds no thread it has not pinned.
        var pinned = new HashSet<int>();
        for (int pass = 0; pass < 10; pass++)
        {
            bool found = false;
            foreach (var directory in Directory.EnumerateDirectories("/proc/self/task"))
            {
                if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out int threadId) && pinned.Add(threadId))
                {
                    found = true;
                    // A thread that ended meanwhile (ESRCH) needs no pinning.
                    if (ThreadAffinity.LinuxSet(threadId, linuxMask.Length, linuxMask) != 0 && Marshal.GetLastPInvokeError() != 3)
                    {
                        throw new InvalidOperationException($"sched_setaffinity failed for thread {threadId} (errno {Marshal.GetLastPInvokeError()}).");
                    }
                }
            }
            if (!found)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Parses a CPU list as taskset -c and /sys/devices/system/cpu spell it: numbers and ranges, comma-separated
    /// ("0,2-3"). Throws <see cref="FormatException"/> for anything else, an empty list or a CPU above <see cref="MaxCpu"/>.
    /// </summary>
    public static int[] Parse(string text)
    {
        var cpus = new SortedSet<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var bounds = part.Split('-');
            if (bounds.Length is < 1 or > 2 || !TryCpu(bounds[0], out int first) || !TryCpu(bounds[^1], out int last) || last < first)
            {
                throw new FormatException($"'{Shown(text)}' is not a CPU list: give CPU numbers from 0 to {MaxCpu} and ranges, such as 0,2-3.");
            }
            for (int cpu = first; cpu <= last; cpu++)
            {
                cpus.Add(cpu);
            }
        }
        return [.. cpus];
    }

    /// <summary>The list in <see cref="Parse"/>'s form with runs as ranges: [0, 2, 3] is "0,2-3".</summary>
    public static string Format(IEnumerable<int> cpus)
    {
        var ordered = cpus.Distinct().Order().ToArray();
        var text = new StringBuilder();
        for (int i = 0; i < ordered.Length;)
        {
            int end = i;
            while (end + 1 < ordered.Length && ordered[end + 1] == ordered[end] + 1)
            {
                end++;
            }
            text.Append(text.Length == 0 ? "" : ",").Append(ordered[i].ToString(CultureInfo.InvariantCulture));
            if (end > i)
            {
                text.Append('-').Append(ordered[end].ToString(CultureInfo.InvariantCulture));
            }
            i = end + 1;
        }
        return text.ToString();
    }

    private static bool TryCpu(string text, out int cpu) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out cpu) && cpu <= MaxCpu;

    private static string Shown(string text) => text.Length > 40 ? text[..40] + "..." : text;

}
