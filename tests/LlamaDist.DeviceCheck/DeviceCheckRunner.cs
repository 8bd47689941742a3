using System.Diagnostics;
using LlamaDist.Core.Backends;
using LlamaDist.Core.Quantization;
using LlamaDist.Gpu;

namespace LlamaDist.DeviceCheck;

/// <summary>Diagnostics, kernel checks, model checks, benchmarks: each stage bounded by what is left of the time limit.</summary>
internal static class DeviceCheckRunner
{
    public static int Run(IReadOnlyList<string> args, TextWriter console)
    {
        DeviceCheckOptions options;
        try
        {
            options = DeviceCheckOptions.Parse(args);
        }
        catch (ArgumentException exception)
        {
            console.WriteLine(exception.Message);
            console.WriteLine("Usage: llamadist-devicecheck [--backend cuda|opencl|ilgpucpu] [--out DIR] [--short] [--time-limit SECONDS]");
            return 2;
        }

        var total = Stopwatch.StartNew();
        TimeSpan Remaining() => options.TimeLimit - total.Elapsed;
        using var timeLimit = new CancellationTokenSource(options.TimeLimit);
        var report = new Report(options.OutputDirectory, console);
        Diagnostics.Write(report);

        IlgpuBackend backend;
        try
        {
            backend = IlgpuBackend.Create(options.Backend);
        }
        catch (BackendUnavailableException exception)
        {
            report.Add("backend", "open", options.Backend.ToString(), null, "", "FAIL", exception.Message);
            return 1;
        }
        string directory = Path.Combine(Path.GetTempPath(), $"llamadist-devicecheck-{Environment.ProcessId}");
        Directory.CreateDirectory(directory);
        try
        {
            using (backend)
            using (var threads = new ComputeThreads(Environment.ProcessorCount))
            {
                var device = backend.Device;
                report.Add("backend", "device", options.Backend.ToString(), device.TotalMemoryBytes / (1024.0 * 1024 * 1024), "GiB", "info", device.Name);
                report.Add("backend", "kernel group size", options.Backend.ToString(), backend.Kernels.GroupSize, "threads", "info");
                var (gigaFlops, bytesPerSecond) = backend.MeasureThroughput();
                report.Add("backend", "q8_0 matvec 4096x4096", options.Backend.ToString(), bytesPerSecond / 1e9, "GB/s", "info", $"{gigaFlops:F1} GFLOP/s");
                ProductThroughput.Run(backend, report, options.Short);

                Stage(report, "kernel", () => KernelChecks.Run(backend, report, options.Short));
                // The small models first, then the benchmarks (the figures a GPU session is for), then the wide
                // models while time is left.
                Stage(report, "model", () => ModelChecks.Run(backend, threads, report, directory, options.Short, ModelChecks.Small, timeLimit.Token));
                Stage(report, "bench", () => Benchmarks.Run(backend, threads, report, directory, options.Short, Remaining, timeLimit.Token));
                if (!options.Short)
                {
                    Stage(report, "model", () => ModelChecks.Run(backend, threads, report, directory, options.Short, ModelChecks.Wide, timeLimit.Token));
                }
            }
        }
        finally
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
        report.Add("summary", "checks failed", "", report.Failures, "", report.Failures == 0 ? "ok" : "FAIL",
            $"{total.Elapsed.TotalSeconds:F0} s in all");
        return report.Failures == 0 ? 0 : 1;
    }

    /// <summary>A stage that throws is one failed row; the stages after it still run.</summary>
    private static void Stage(Report report, string name, Action stage)
    {
        try
        {
            stage();
        }
        catch (Exception exception)
        {
            report.Add(name, "stage", "", null, "", "FAIL", $"{exception.GetType().Name}: {exception.Message}");
        }
    }
}
