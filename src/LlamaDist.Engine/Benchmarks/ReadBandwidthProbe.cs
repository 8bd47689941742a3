using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using LlamaDist.Core.Gguf;
using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Benchmarks;

/// <summary>
/// Measures how fast this machine's threads read memory, the bound of decoding (every weight is read once per
/// token): each of <c>threads</c> threads sums its share of a buffer larger than the caches with vector loads, as
/// two streams far apart (the decode kernels read two rows half a range apart, which keeps more reads in flight
/// than one stream; one stream per thread read 10-20% slower on the machine these figures come from). The
/// fastest of several passes is the bound: a pass can only be slowed by other work, never sped up.
/// </summary>
public static class ReadBandwidthProbe
{
    /// <summary>
    /// The smallest default buffer. On a 2-core EPYC VM reporting a 32 MiB L3, buffers of 64-512 MiB read at 35-50
    /// GB/s and 1-2 GiB at 19-33 GB/s (the decode rate of the largest models agrees with the latter): some cache
    /// beyond the reported one holds hundreds of MiB there, so eight times the reported cache is not enough alone.
    /// </summary>
    public const long MinimumBufferBytes = 1024L * 1024 * 1024;
    public const long MaximumBufferBytes = 4L * 1024 * 1024 * 1024;
    private const int HugePageBytes = 2 * 1024 * 1024;

    /// <summary>
    /// Reads a buffer of <paramref name="bufferBytes"/> (default <see cref="DefaultBufferBytes"/>)
    /// <paramref name="passes"/> times with <paramref name="threads"/> threads.
    /// </summary>
    public static ReadBandwidth Measure(int threads, long bufferBytes = 0, int passes = 3, CancellationToken cancellationToken = default)
    {
        if (threads < 1 || threads > 1024) throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Threads must be 1 to 1024, not {threads}.", nameof(threads));
        if (passes < 1 || passes > 1000) throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Passes must be 1 to 1000, not {passes}.", nameof(passes));
        if (bufferBytes == 0) bufferBytes = DefaultBufferBytes();
        if (bufferBytes < 1024 * 1024 || bufferBytes > MaximumBufferBytes)
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"The probe buffer must be 1 MiB to {MaximumBufferBytes >> 30} GiB, not {bufferBytes} bytes.", nameof(bufferBytes));

        // Each thread's share is a whole number of 4 KiB pages split in two halves (its two streams).
        var share = bufferBytes / threads / 8192 * 8192;
        var total = share * threads;
        unsafe
        {
            // 2 MiB-aligned and advised for huge pages where the kernel offers them, as resident weights are.
            var buffer = (byte*)NativeMemory.AlignedAlloc((nuint)total, HugePageBytes);
            try
            {
                HugePages.Advise(buffer, total);
                var expected = Fill((ulong*)buffer, total / sizeof(ulong));
                var best = double.MaxValue;
                for (var pass = 0; pass < passes + 1; pass++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var seconds = TimedPass(buffer, share, threads, expected);
                    if (pass > 0) best = Math.Min(best, seconds);  // the first pass warms up threads and TLB
                }
                return new ReadBandwidth { BytesPerSecond = total / best, Threads = threads, BufferBytes = total, Passes = passes };
            }
            finally
            {
                NativeMemory.AlignedFree(buffer);
            }
        }
    }

    /// <summary>
    /// Eight times the last-level cache (from sysfs on Linux; 32 MiB assumed elsewhere), at least
    /// <see cref="MinimumBufferBytes"/>, at most <see cref="MaximumBufferBytes"/> and never more than a quarter of the
    /// machine's memory (a model is loaded beside it).
    /// </summary>
    public static long DefaultBufferBytes()
    {
        var wanted = Math.Clamp(8 * LastLevelCacheBytes(), MinimumBufferBytes, MaximumBufferBytes);
        var memory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        return memory > 0 ? Math.Max(16L * 1024 * 1024, Math.Min(wanted, memory / 4)) : wanted;
    }

    /// <summary>
    /// Writes word i as (i + 1) x an odd constant, so every word and every page differs: pages of equal content
    /// (untouched zero pages, or pages a hypervisor merges because they are identical) can share one physical page
    /// that stays in the cache, and would read impossibly fast. Returns the XOR of all words, which a pass must read.
    /// </summary>
    private static unsafe ulong Fill(ulong* words, long count)
    {
        const ulong step = 0x9E3779B97F4A7C15UL;
        var value = Vector256.Create(step, unchecked(2 * step), unchecked(3 * step), unchecked(4 * step));
        var increment = Vector256.Create(unchecked(4 * step));
        var all = Vector256<ulong>.Zero;
        for (long i = 0; i < count; i += 4)
        {
            value.Store(words + i);
            all ^= value;
            value += increment;
        }
        return all[0] ^ all[1] ^ all[2] ^ all[3];
    }

    private static unsafe double TimedPass(byte* buffer, long share, int threads, ulong expected)
    {
        using var ready = new Barrier(threads + 1);
        var sums = new ulong[threads];
        var workers = new Thread[threads];
        for (var t = 0; t < threads; t++)
        {
            var index = t;
            workers[t] = new Thread(() =>
            {
                ready.SignalAndWait();
                sums[index] = XorTwoStreams(buffer + index * share, share / 2);
            }) { IsBackground = true, Name = $"bandwidth probe {t}" };
            workers[t].Start();
        }
        ready.SignalAndWait();
        var clock = Stopwatch.StartNew();
        foreach (var worker in workers) worker.Join();
        clock.Stop();
        // The result is checked, so the reads cannot be optimized away.
        if (sums.Aggregate(0UL, (all, sum) => all ^ sum) != expected) throw new InvalidOperationException("The bandwidth probe read wrong values.");
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>XORs the words of [0, half) and [half, 2 * half) together, 64 bytes of each per step, in lockstep.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe ulong XorTwoStreams(byte* start, long half)
    {
        var first = start;
        var second = start + half;
        Vector256<ulong> a0 = default, a1 = default, b0 = default, b1 = default;
        for (long offset = 0; offset < half; offset += 64)
        {
            a0 ^= Vector256.Load((ulong*)(first + offset));
            a1 ^= Vector256.Load((ulong*)(first + offset + 32));
            b0 ^= Vector256.Load((ulong*)(second + offset));
            b1 ^= Vector256.Load((ulong*)(second + offset + 32));
        }
        var all = a0 ^ a1 ^ b0 ^ b1;
        return all[0] ^ all[1] ^ all[2] ^ all[3];
    }

    private static long LastLevelCacheBytes()
    {
        const long fallback = 32L * 1024 * 1024;
        const string cacheDirectory = "/sys/devices/system/cpu/cpu0/cache";
        if (!OperatingSystem.IsLinux() || !Directory.Exists(cacheDirectory)) return fallback;
        long largest = 0;
        foreach (var index in Directory.EnumerateDirectories(cacheDirectory, "index*"))
        {
            var sizeFile = Path.Combine(index, "size");
            if (!File.Exists(sizeFile)) continue;
            var text = File.ReadAllText(sizeFile).Trim();
            var multiplier = text.EndsWith('K') ? 1024L : text.EndsWith('M') ? 1024L * 1024 : 1;
            if (long.TryParse(text.TrimEnd('K', 'M'), out var size)) largest = Math.Max(largest, size * multiplier);
        }
        return largest > 0 ? largest : fallback;
    }
}
