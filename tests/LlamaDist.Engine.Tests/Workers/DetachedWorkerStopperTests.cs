using System.Diagnostics;
using LlamaDist.Engine.Workers;

namespace LlamaDist.Engine.Tests.Workers;

/// <summary>
/// Stopping a detached worker signals exactly the process that was started: a process id with another start
/// time (the id reused by the system) is left alone, and SIGTERM ends a process that honours it without a kill.
/// A plain `sleep` stands in for the worker: it exits on SIGTERM as the worker's host does.
/// </summary>
public sealed class DetachedWorkerStopperTests
{
    [Fact]
    public void A_process_whose_start_time_differs_is_left_alone_and_the_right_one_ends_on_sigterm()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // no sleep command and no SIGTERM there: Windows always kills, covered by the module tests
        }
        using var process = Process.Start(new ProcessStartInfo("sleep", "30") { UseShellExecute = false })!;
        try
        {
            DateTime startTime = DetachedWorkerStopper.StartTimeOf(process);

            Assert.Equal(DetachedWorkerStop.NotRunning, DetachedWorkerStopper.Stop(process.Id, startTime.AddSeconds(-5)));
            Assert.False(process.HasExited);

            var clock = Stopwatch.StartNew();
            Assert.Equal(DetachedWorkerStop.Graceful, DetachedWorkerStopper.Stop(process.Id, startTime));
            Assert.True(process.HasExited);
            Assert.True(clock.Elapsed < DetachedWorkerStopper.GracePeriod, $"took {clock.Elapsed}");
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    [Fact]
    public void A_process_that_is_gone_is_reported_as_not_running()
    {
        using var process = Process.Start(new ProcessStartInfo("dotnet", "--version") { UseShellExecute = false, RedirectStandardOutput = true })!;
        DateTime startTime = DetachedWorkerStopper.StartTimeOf(process);
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(DetachedWorkerStop.NotRunning, DetachedWorkerStopper.Stop(process.Id, startTime));
    }
}
