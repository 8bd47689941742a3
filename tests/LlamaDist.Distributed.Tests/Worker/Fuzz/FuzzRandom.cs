using System.Text;

namespace LlamaDist.Distributed.Tests.Worker.Fuzz;

/// <summary>
/// SplitMix64 (a fixed algorithm, so a seed gives the same cases on every runtime) with the hostile values a
/// protocol fuzzer draws from: boundary integers, long and odd strings, random bytes.
/// </summary>
internal sealed class FuzzRandom(ulong seed)
{
    private ulong state = seed;

    public ulong NextUInt64()
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>0 to <paramref name="exclusiveBound"/> - 1.</summary>
    public int Next(int exclusiveBound) => (int)(NextUInt64() % (ulong)exclusiveBound);

    /// <summary>True one time in <paramref name="n"/>.</summary>
    public bool OneIn(int n) => Next(n) == 0;

    public T Pick<T>(IReadOnlyList<T> items) => items[Next(items.Count)];

    public byte[] Bytes(int maximumLength)
    {
        var bytes = new byte[Next(maximumLength + 1)];
        for (int i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)NextUInt64();
        }
        return bytes;
    }

    /// <summary>A count as hostile callers send them: zero, small, boundaries of every integer width.</summary>
    public uint HostileUInt32() => Next(8) switch
    {
        0 => 0,
        1 => 1,
        2 => (uint)Next(100),
        3 => uint.MaxValue,
        4 => int.MaxValue,
        5 => (uint)int.MaxValue + 1,
        6 => 1u << Next(32),
        _ => (uint)NextUInt64(),
    };

    public ulong HostileUInt64() => Next(7) switch
    {
        0 => 0,
        1 => (ulong)Next(1 << 16),
        2 => ulong.MaxValue,
        3 => long.MaxValue,
        4 => (ulong)long.MaxValue + 1,
        5 => 1UL << Next(64),
        _ => NextUInt64(),
    };

    /// <summary>64 random hex digits: a well-formed range hash no worker has.</summary>
    public string UnknownHash()
    {
        var text = new StringBuilder(64);
        while (text.Length < 64)
        {
            text.Append(NextUInt64().ToString("x16"));
        }
        return text.ToString();
    }

    /// <summary>Empty, long (up to 1 MiB), control characters, lone surrogates, almost-hashes, path tricks.</summary>
    public string HostileString() => Next(10) switch
    {
        0 => "",
        1 => new string('a', 1 << 20),
        2 => new string((char)('a' + Next(26)), 1 + Next(8192)),
        3 => "line\nbreak\r\0nul\u001b[31mred\t" + Next(1000),
        4 => "\ud800lone" + (OneIn(2) ? "\udc00" : "") + "surrogate",
        5 => UnknownHash().ToUpperInvariant()[..(60 + Next(5))],
        6 => UnknownHash()[..63] + "g",
        7 => "../../../../etc/passwd",
        8 => "名前-" + Next(100) + "-😀",
        _ => Encoding.Latin1.GetString(Bytes(64)),
    };
}
