using System.Globalization;

namespace LlamaDist.Core.Tests.Gguf;

/// <summary>What of a mapped file this process holds resident, read from /proc/self/smaps (Linux only).</summary>
internal static class MappedFileMemory
{
    /// <summary>The resident bytes of this process's mappings of <paramref name="path"/>.</summary>
    public static long ResidentBytes(string path)
    {
        long total = 0;
        bool inFile = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            if (line.Length > 0 && char.IsAsciiHexDigit(line[0]) && line.Contains('-'))
            {
                inFile = line.EndsWith(" " + path, StringComparison.Ordinal);
            }
            else if (inFile && line.StartsWith("Rss:", StringComparison.Ordinal))
            {
                total += long.Parse(line.AsSpan(4).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
            }
        }
        return total;
    }

    /// <summary>Maps every page of every tensor of <paramref name="file"/>; a sum of its bytes, so that the reads stay.</summary>
    public static long TouchEveryTensor(LlamaDist.Core.Gguf.GgufFile file)
    {
        long checksum = 0;
        foreach (var tensor in file.Tensors)
        {
            foreach (byte value in file.GetTensorBytes(tensor))
            {
                checksum += value;
            }
        }
        return checksum;
    }
}
