using System.Globalization;

namespace LlamaDist.Tests.Shared;

/// <summary>
/// What of a mapped file this process holds resident, read from /proc/self/smaps (Linux only). Linked into the test
/// projects that check what a loaded model keeps mapped.
/// </summary>
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

    /// <summary>The resident bytes of the one mapping of this process that holds <paramref name="address"/>.</summary>
    public static long ResidentBytesOfMappingAt(nint address)
    {
        bool inMapping = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            if (line.Length > 0 && char.IsAsciiHexDigit(line[0]) && line.Contains('-'))
            {
                string[] range = line[..line.IndexOf(' ')].Split('-');
                ulong start = ulong.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                ulong end = ulong.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                inMapping = (ulong)address >= start && (ulong)address < end;
            }
            else if (inMapping && line.StartsWith("Rss:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(4).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
            }
        }
        throw new InvalidOperationException($"No mapping of this process holds 0x{address:x}.");
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
