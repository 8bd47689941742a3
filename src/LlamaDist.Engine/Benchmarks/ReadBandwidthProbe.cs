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
        RequireSettings(threads, passes);
        if (bufferBytes == 0) bufferBytes = DefaultBufferBytes();
        if (bufferBytes < 1024 * 1024 || bufferBytes > MaximumBufferBytes)
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"The probe buffer must be 1 MiB to {MaximumBufferBytes >> 30} GiB, not {bufferBytes} bytes.", nameof(bufferBytes));

        unsafe
        {
            // 2 MiB-aligned and advised for huge pages where the kernel offers them, as resident weights are.
            var total = bufferBytes / threads / 8192 * 8192 * threads;
            var buffer = (byte*)NativeMemory.AlignedAlloc((nuint)total, HugePageBytes);
            try
            {
                HugePages.Advise(buffer, total);
                var expected = Fill((ulong*)buffer, total / sizeof(ulong));
                var seconds = FastestPass(Plan([new MemoryRange((nint)buffer, total)], threads), passes, expected, cancellationToken);
                return new ReadBandwidth { BytesPerSecond = total / seconds, Threads = threads, BufferBytes = total, Passes = passes };
            }
            finally
            {
                NativeMemory.AlignedFree(buffer);
            }
        }
    }

    /// <summary>
    /// Reads <paramref name="ranges"/> (memory that stays valid and unchanged while this runs, such as a loaded
    /// model's weights) <paramref name="passes"/> times with <paramref name="threads"/> threads, each taking an
    /// equal share of their bytes in order as two streams, as <see cref="Measure"/> reads its buffer.
    /// <para>Why beside <see cref="Measure"/>: a fresh buffer's pages can land in faster or slower memory than the
    /// pages that hold the weights (on the VM the figures come from, fresh allocations of one size read from 19 to
    /// over 100 GB/s between processes), so only the weights' own pages say how fast a token's reads could go.</para>
    /// </summary>
    public static ReadBandwidth MeasureRanges(IReadOnlyList<MemoryRange> ranges, int threads, int passes = 3, CancellationToken cancellationToken = default)
    {
        RequireSettings(threads, passes);
        var reads = PrepareRanges(ranges, threads);
        var seconds = FastestPass(reads.Plan, passes, expected: null, cancellationToken);
        return new ReadBandwidth { BytesPerSecond = reads.Bytes / seconds, Threads = threads, BufferBytes = reads.Bytes, Passes = passes };
    }

    /// <summary>
    /// The reads <see cref="MeasureRanges"/> makes, planned once, for timing single passes between other work
    /// (<see cref="RangeReads.TimePass"/>; see <see cref="DecodeBesideReads"/>).
    /// </summary>
    public static RangeReads PrepareRanges(IReadOnlyList<MemoryRange> ranges, int threads)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        RequireSettings(threads, passes: 1);
        if (ranges.Any(range => range.Start == 0 || range.Bytes < 0))
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, "Every range to read needs a start and a length of zero or more bytes.", nameof(ranges));
        var total = ranges.Sum(range => range.Bytes);
        if (total < 64L * threads)
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"The ranges hold {total} bytes: at least 64 per thread are needed.", nameof(ranges));
        return new RangeReads(Plan(ranges, threads), total);
    }

    /// <summary>Planned reads of memory ranges (<see cref="PrepareRanges"/>): one timed pass at a time.</summary>
    public sealed class RangeReads
    {
        private ulong? sum;

        internal RangeReads(ThreadReads[] plan, long bytes)
        {
            Plan = plan;
            Bytes = bytes;
        }

        internal ThreadReads[] Plan { get; }

        /// <summary>Bytes one pass reads.</summary>
        public long Bytes { get; }

        /// <summary>Threads that share a pass.</summary>
        public int Threads => Plan.Length;

        /// <summary>
        /// Reads every byte once and returns the seconds it took (thread start-up outside the clock). Every pass
        /// must read the XOR of the first: the ranges have to stay unchanged between passes.
        /// </summary>
        public double TimePass()
        {
            var (seconds, passSum) = TimedPass(Plan);
            sum ??= passSum;
            if (passSum != sum) throw new InvalidOperationException("Two passes over the same memory read different values: it changed between them.");
            return seconds;
        }
    }

    private static void RequireSettings(int threads, int passes)
    {
        if (threads < 1 || threads > 1024) throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Threads must be 1 to 1024, not {threads}.", nameof(threads));
        if (passes < 1 || passes > 1000) throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Passes must be 1 to 1000, not {passes}.", nameof(passes));
    }

    /// <summary>
    /// Each thread's two streams: thread t reads bytes [total x t / threads, total x (t + 1) / threads) of the
    /// ranges laid end to end (bounds on 64-byte steps), its first half and its second half in lockstep.
    /// </summary>
    internal static ThreadReads[] Plan(IReadOnlyList<MemoryRange> ranges, int threads)
    {
        var total = ranges.Sum(range => range.Bytes);
        var plan = new ThreadReads[threads];
        for (var t = 0; t < threads; t++)
        {
            var start = t == 0 ? 0 : total * t / threads / 64 * 64;
            var end = t == threads - 1 ? total : total * (t + 1) / threads / 64 * 64;
            var middle = start + (end - start) / 2 / 64 * 64;
            plan[t] = new ThreadReads(Slice(ranges, start, middle), Slice(ranges, middle, end));
        }
        return plan;
    }

    /// <summary>The pieces of the ranges laid end to end that cover bytes [start, end).</summary>
    private static MemoryRange[] Slice(IReadOnlyList<MemoryRange> ranges, long start, long end)
    {
        var pieces = new List<MemoryRange>();
        long offset = 0;
        foreach (var range in ranges)
        {
            var from = Math.Max(start, offset);
            var to = Math.Min(end, offset + range.Bytes);
            if (from < to) pieces.Add(new MemoryRange(range.Start + (nint)(from - offset), to - from));
            offset += range.Bytes;
        }
        return [.. pieces];
    }

    /// <summary>One thread's reads: two streams, each a list of pieces read in order.</summary>
    internal sealed record ThreadReads(MemoryRange[] First, MemoryRange[] Second);

    /// <summary>
    /// The fastest of <paramref name="passes"/> timed passes (after one that warms up threads and TLB). Every pass
    /// must read the same XOR of all bytes, <paramref name="expected"/> when given, else the first pass's.
    /// </summary>
    private static double FastestPass(ThreadReads[] plan, int passes, ulong? expected, CancellationToken cancellationToken)
    {
        var best = double.MaxValue;
        for (var pass = 0; pass < passes + 1; pass++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (seconds, sum) = TimedPass(plan);
            expected ??= sum;
            // The result is checked, so the reads cannot be optimized away.
            if (sum != expected) throw new InvalidOperationException("The bandwidth probe read different values in two passes over the same memory.");
            if (pass > 0) best = Math.Min(best, seconds);
        }
        return best;
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

    private static (double Seconds, ulong Sum) TimedPass(ThreadReads[] plan)
    {
        using var ready = new Barrier(plan.Length + 1);
        var sums = new ulong[plan.Length];
        var workers = new Thread[plan.Length];
        for (var t = 0; t < plan.Length; t++)
        {
            var index = t;
            workers[t] = new Thread(() =>
            {
                ready.SignalAndWait();
                sums[index] = XorStreams(plan[index]);
            }) { IsBackground = true, Name = $"bandwidth probe {t}" };
            workers[t].Start();
        }
        ready.SignalAndWait();
        var clock = Stopwatch.StartNew();
        foreach (var worker in workers) worker.Join();
        clock.Stop();
        return (clock.Elapsed.TotalSeconds, sums.Aggregate(0UL, (all, sum) => all ^ sum));
    }

    /// <summary>
    /// The XOR of every 8-byte word (and of a piece's last bytes, zero-extended) of both streams, read in lockstep
    /// 64 bytes of each at a time while both have pieces left, then the rest of the longer one alone.
    /// </summary>
    private static unsafe ulong XorStreams(ThreadReads reads)
    {
        ulong sum = 0;
        int first = 0, second = 0;
        long firstDone = 0, secondDone = 0;
        while (first < reads.First.Length && second < reads.Second.Length)
        {
            var a = reads.First[first];
            var b = reads.Second[second];
            var steps = Math.Min(a.Bytes - firstDone, b.Bytes - secondDone) / 64 * 64;
            if (steps > 0)
            {
                sum ^= XorTwoStreams((byte*)a.Start + firstDone, (byte*)b.Start + secondDone, steps);
                firstDone += steps;
                secondDone += steps;
            }
            // A piece with less than 64 bytes left ends alone.
            if (a.Bytes - firstDone < 64)
            {
                sum ^= XorOneStream((byte*)a.Start + firstDone, a.Bytes - firstDone);
                first++;
                firstDone = 0;
            }
            if (b.Bytes - secondDone < 64)
            {
                sum ^= XorOneStream((byte*)b.Start + secondDone, b.Bytes - secondDone);
                second++;
                secondDone = 0;
            }
        }
        for (; first < reads.First.Length; first++, firstDone = 0)
            sum ^= XorOneStream((byte*)reads.First[first].Start + firstDone, reads.First[first].Bytes - firstDone);
        for (; second < reads.Second.Length; second++, secondDone = 0)
            sum ^= XorOneStream((byte*)reads.Second[second].Start + secondDone, reads.Second[second].Bytes - secondDone);
        return sum;
    }

    /// <summary>XORs the words of [first, first + bytes) and [second, second + bytes) together, 64 bytes of each per step (bytes a multiple of 64).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe ulong XorTwoStreams(byte* first, byte* second, long bytes)
    {
        Vector256<ulong> a0 = default, a1 = default, b0 = default, b1 = default;
        for (long offset = 0; offset < bytes; offset += 64)
        {
            a0 ^= Vector256.Load((ulong*)(first + offset));
            a1 ^= Vector256.Load((ulong*)(first + offset + 32));
            b0 ^= Vector256.Load((ulong*)(second + offset));
            b1 ^= Vector256.Load((ulong*)(second + offset + 32));
        }
        var all = a0 ^ a1 ^ b0 ^ b1;
        return all[0] ^ all[1] ^ all[2] ^ all[3];
    }

    /// <summary>The XOR of the 8-byte words of [start, start + bytes), the last bytes zero-extended into one more.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe ulong XorOneStream(byte* start, long bytes)
    {
        var all = Vector256<ulong>.Zero;
        long offset = 0;
        for (; offset + 32 <= bytes; offset += 32) all ^= Vector256.Load((ulong*)(start + offset));
        var sum = all[0] ^ all[1] ^ all[2] ^ all[3];
        for (; offset + 8 <= bytes; offset += 8) sum ^= *(ulong*)(start + offset);
        ulong tail = 0;
        for (var shift = 0; offset < bytes; offset++, shift += 8) tail |= (ulong)start[offset] << shift;
        return sum ^ tail;
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
