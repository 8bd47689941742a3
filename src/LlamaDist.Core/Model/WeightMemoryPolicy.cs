using System.Globalization;
using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Model;

/// <summary>Turns <see cref="WeightMemory.Auto"/> into a concrete choice for a number of bytes of weights.</summary>
public static class WeightMemoryPolicy
{
    // Auto copies only when the copy leaves at least this share of the available memory free, so that the file
    // cache, the KV cache and the rest of the system keep room (the copy also pulls the file into the cache).
    private const double MaxShareOfAvailable = 0.5;

    /// <summary>
    /// <paramref name="requested"/> unless it is Auto; Auto gives Resident on Linux with transparent huge pages when
    /// <paramref name="bytes"/> is at most half of MemAvailable, else Mapped.
    /// </summary>
    public static WeightMemory Resolve(WeightMemory requested, long bytes)
    {
        if (requested != WeightMemory.Auto)
        {
            return requested;
        }
        long? available = AvailableMemoryBytes();
        return HugePages.Available && available is long free && bytes <= free * MaxShareOfAvailable
            ? WeightMemory.Resident
            : WeightMemory.Mapped;
    }

    /// <summary>MemAvailable from /proc/meminfo in bytes, or null where there is none.</summary>
    internal static long? AvailableMemoryBytes()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        try
        {
            foreach (string line in File.ReadLines("/proc/meminfo"))
            {
                // "MemAvailable:   12345678 kB"
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                {
                    string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return long.Parse(parts[1], CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return null;
    }
}
