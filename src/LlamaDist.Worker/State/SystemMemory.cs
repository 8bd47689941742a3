namespace LlamaDist.Worker.State;

/// <summary>Physical memory as the planner should see it.</summary>
public static class SystemMemory
{
    /// <summary>Memory the runtime may use (the container limit where there is one).</summary>
    public static long Total() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>
    /// Memory that can still be allocated without swapping: Linux's MemAvailable (free + reclaimable page
    /// cache); elsewhere total minus what this process holds.
    /// </summary>
    public static long Available()
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                foreach (var line in File.ReadLines("/proc/meminfo"))
                {
                    if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                    {
                        var kilobytes = long.Parse(line["MemAvailable:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
                        return Math.Min(kilobytes * 1024, Total());
                    }
                }
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or FormatException)
            {
                // Fall back to the runtime's own figure below.
            }
        }
        return Math.Max(0, Total() - Environment.WorkingSet);
    }
}
