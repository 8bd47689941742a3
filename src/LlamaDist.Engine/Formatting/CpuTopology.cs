using System.Globalization;

namespace LlamaDist.Engine.Formatting;

/// <summary>The default thread count: physical cores, as llama.cpp uses (hyper-threads share the same ALUs).</summary>
public static class CpuTopology
{
    public static int PhysicalCoreCount { get; } = CountPhysicalCores();

    private static int CountPhysicalCores()
    {
        // Linux: distinct (physical id, core id) pairs in /proc/cpuinfo. Elsewhere: logical processors.
        const string cpuInfoPath = "/proc/cpuinfo";
        if (!OperatingSystem.IsLinux() || !File.Exists(cpuInfoPath))
        {
            return Environment.ProcessorCount;
        }

        var cores = new HashSet<(int Package, int Core)>();
        int package = 0, core = -1;
        foreach (var line in File.ReadLines(cpuInfoPath))
        {
            var separator = line.IndexOf(':');
            if (line.Length == 0)
            {
                if (core >= 0) cores.Add((package, core));
                package = 0; core = -1;
                continue;
            }
            if (separator < 0) continue;
            var key = line[..separator].Trim();
            var value = line[(separator + 1)..].Trim();
            if (key == "physical id") int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out package);
            else if (key == "core id") int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out core);
        }
        if (core >= 0) cores.Add((package, core));

        // Containers may show the host's topology while limiting the processors this process can use.
        return cores.Count == 0 ? Environment.ProcessorCount : Math.Min(cores.Count, Environment.ProcessorCount);
    }
}
