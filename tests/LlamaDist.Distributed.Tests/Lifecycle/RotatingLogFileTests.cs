using LlamaDist.Worker.Lifecycle;
using Microsoft.Extensions.Logging;

namespace LlamaDist.Distributed.Tests.Lifecycle;

/// <summary>The worker's log file: rotated at its size bound, the oldest file dropped, never more than max × files.</summary>
public sealed class RotatingLogFileTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), $"llamadist-log-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void The_log_rotates_and_stays_within_its_bound()
    {
        var path = Path.Combine(directory, "nested", "50052.log");
        const long max = 4096;
        using (var log = new RotatingLogFile(path, max, maxFiles: 3))
        {
            for (var line = 0; line < 1000; line++)
            {
                log.WriteLine($"line {line:D4} {new string('x', 50)}");
            }
        }

        Assert.True(File.Exists(path));
        Assert.True(File.Exists(path + ".1"));
        Assert.True(File.Exists(path + ".2"));
        Assert.False(File.Exists(path + ".3"));
        foreach (var file in new[] { path, path + ".1", path + ".2" })
        {
            Assert.InRange(new FileInfo(file).Length, 1, max);
        }
        Assert.EndsWith($"line 0999 {new string('x', 50)}", File.ReadAllLines(path)[^1], StringComparison.Ordinal);
        // The rotated files hold the lines just before, in order.
        var previous = File.ReadAllLines(path + ".1");
        var firstCurrent = int.Parse(File.ReadAllLines(path)[0].Split(' ')[1]);
        Assert.StartsWith($"line {firstCurrent - 1:D4}", previous[^1], StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
    }

    [Fact]
    public void A_line_longer_than_the_bound_is_cut_and_one_file_means_no_rotated_copies()
    {
        var path = Path.Combine(directory, "one.log");
        using (var log = new RotatingLogFile(path, 2048, maxFiles: 1))
        {
            log.WriteLine("first");
            log.WriteLine(new string('y', 10_000));
            log.WriteLine("last");
        }
        Assert.False(File.Exists(path + ".1"));
        Assert.Equal(["last"], File.ReadAllLines(path));
    }

    [Fact]
    public void The_logger_provider_writes_levels_categories_and_exceptions()
    {
        var path = Path.Combine(directory, "provider.log");
        using (var log = new RotatingLogFile(path))
        using (var provider = new FileLoggerProvider(log))
        {
            var logger = provider.CreateLogger("LlamaDist.Worker");
            logger.LogDebug("not written");
            logger.LogWarning("Listening on {Address}", "0.0.0.0");
            logger.LogError(new InvalidOperationException("boom"), "Failed");
        }
        var text = File.ReadAllText(path);
        Assert.DoesNotContain("not written", text, StringComparison.Ordinal);
        Assert.Contains("warn LlamaDist.Worker: Listening on 0.0.0.0", text, StringComparison.Ordinal);
        Assert.Contains("fail LlamaDist.Worker: Failed", text, StringComparison.Ordinal);
        Assert.Contains("System.InvalidOperationException: boom", text, StringComparison.Ordinal);
    }
}
