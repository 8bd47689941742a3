using System.Diagnostics;
using System.Runtime.InteropServices;

/// <summary>
/// Waits until a <see cref="Stopwatch"/> timestamp without spinning where it can. The relay runs on the machine
/// whose workers it sits between, so a spinning relay takes a core from them: a 0.15 ms one-way delay spun once
/// per chunk cost about a millisecond of CPU per decoded token, 1.5 ms a chunk on the Wi-Fi link. On Linux it
/// sleeps with clock_nanosleep on CLOCK_MONOTONIC (the clock Stopwatch reads there, in nanoseconds) to an
/// absolute time, with the thread's timer slack cut to 1 µs so sub-millisecond delays still hold. Elsewhere it
/// sleeps whole milliseconds and spins the rest.
/// </summary>
internal static class PreciseSleep
{
    private const int ClockMonotonic = 1;
    private const int TimerAbsoluteTime = 1;
    private const int InterruptedCall = 4;  // EINTR: a signal woke the sleep early
    private const int SetTimerSlack = 29;    // PR_SET_TIMERSLACK

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_nanosleep")]
    private static extern int ClockNanosleep(int clock, int flags, ref TimeSpec request, IntPtr remaining);

    [DllImport("libc", EntryPoint = "prctl")]
    private static extern int Prctl(int option, ulong argument2, ulong argument3, ulong argument4, ulong argument5);

    private static readonly bool Native = OperatingSystem.IsLinux() && Stopwatch.Frequency == 1_000_000_000;

    /// <summary>Call once on each thread that waits: the timer slack is per thread.</summary>
    public static void PrepareThread()
    {
        if (Native)
        {
            _ = Prctl(SetTimerSlack, 1000, 0, 0, 0);
        }
    }

    public static void Until(long due)
    {
        if (Native)
        {
            var request = new TimeSpec { Seconds = due / 1_000_000_000, Nanoseconds = due % 1_000_000_000 };
            while (Stopwatch.GetTimestamp() < due && ClockNanosleep(ClockMonotonic, TimerAbsoluteTime, ref request, IntPtr.Zero) == InterruptedCall)
            {
            }
            return;
        }
        while (true)
        {
            long remaining = due - Stopwatch.GetTimestamp();
            if (remaining <= 0)
            {
                return;
            }
            double ms = remaining * 1000.0 / Stopwatch.Frequency;
            if (ms > 1.5)
            {
                Thread.Sleep(TimeSpan.FromMilliseconds(ms - 1));
            }
            else
            {
                Thread.SpinWait(64);
            }
        }
    }
}
