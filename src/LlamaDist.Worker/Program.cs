using LlamaDist.Worker.Hosting;
using LlamaDist.Worker.Lifecycle;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LlamaDist.Worker;

/// <summary>
/// dotnet LlamaDist.Worker.dll [--address 127.0.0.1] [--port 50052] [--threads N] [--name NAME]
///   [--model-path FILE|DIR] [--cache-directory DIR] [--max-memory BYTES] [--log-file FILE] [--detach true] ...
/// Prints one line "LlamaDist worker listening on http://host:port (id ...)" once ready, records itself in the
/// state directory (&lt;pid&gt;.json, removed again on a clean exit), logs to the console (or to --log-file,
/// rotated), and stops on Ctrl+C / SIGTERM / the Shutdown call. Under systemd it reports readiness (Type=notify)
/// and logs in the journal's format; under the Windows service manager it runs as a service.
/// With --detach true it leaves its starter's session and terminal (see <see cref="ProcessSession"/>).
/// With --quiet true nothing but the ready line is written to the console. With --cpu-affinity every thread of the
/// process runs on the CPUs listed (see <see cref="ProcessorAffinity"/>).
/// Exit codes: 0 stopped, 2 bad arguments, 3 port in use, 4 bad address, 5 a non-loopback address without a
/// cluster token (see --token-file, --allow-insecure), 6 an unusable TLS certificate.
/// </summary>
public static class Program
{
    public const string ReadyLinePrefix = "LlamaDist worker listening on ";

    public static async Task<int> Main(string[] args)
    {
        WorkerOptions? options;
        try
        {
            options = WorkerCommandLine.Parse(args);
        }
        catch (FormatException exception)
        {
            await Console.Error.WriteLineAsync(exception.Message + Environment.NewLine + WorkerCommandLine.Usage).ConfigureAwait(false);
            return 2;
        }
        if (options is null)
        {
            Console.WriteLine(WorkerCommandLine.Usage);
            return 0;
        }
        RotatingLogFile? log = null;
        try
        {
            log = options.LogFile is null ? null : new RotatingLogFile(options.LogFile, options.LogMaxBytes, options.LogFiles);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"Cannot write the log file {options.LogFile}: {exception.Message}").ConfigureAwait(false);
            return 2;
        }
        // Detached only now: until here errors still reach whoever started the worker; from here on they go to the log.
        if (options.Detach)
        {
            ProcessSession.Detach();
        }
        using (log)
        {
            if (options.CpuAffinity.Count > 0)
            {
                // Before the host starts its threads, which then inherit the set (the runtime's own are pinned too).
                try
                {
                    ProcessorAffinity.Apply(options.CpuAffinity);
                }
                catch (Exception exception) when (exception is ArgumentException or InvalidOperationException)
                {
                    await Console.Error.WriteLineAsync($"--cpu-affinity: {exception.Message}").ConfigureAwait(false);
                    log?.WriteLine($"Cannot start: --cpu-affinity: {exception.Message}");
                    return 2;
                }
            }
            return await RunAsync(options, log).ConfigureAwait(false);
        }
    }

    private static async Task<int> RunAsync(WorkerOptions options, RotatingLogFile? log)
    {
        var state = options.StateDirectory is null ? null : new WorkerStateDirectory(options.StateDirectory);
        try
        {
            await using var host = await WorkerHost.StartAsync(options, logging => ConfigureLogging(logging, options, log), default, AddServiceIntegration)
                .ConfigureAwait(false);
            var certificate = host.CertificateThumbprint is { } thumbprint ? $", certificate {thumbprint}" : "";
            var ready = $"{ReadyLinePrefix}{host.Endpoint.ToUri()} (id {host.WorkerId}, {host.Threads} threads{(options.CpuAffinity.Count > 0 ? $" on CPUs {ProcessorAffinity.Format(options.CpuAffinity)}" : "")}, peer port {host.PeerPort}, process {Environment.ProcessId}{certificate})";
            Console.WriteLine(ready);
            log?.WriteLine(ready);
            Record(state, host, options);
            try
            {
                await host.Stopped.ConfigureAwait(false);
            }
            finally
            {
                state?.Remove(Environment.ProcessId);
            }
            log?.WriteLine("LlamaDist worker stopped.");
            return 0;
        }
        catch (WorkerStartException exception)
        {
            await Console.Error.WriteLineAsync(exception.Message).ConfigureAwait(false);
            log?.WriteLine($"Cannot start: {exception.Message}");
            return ExitCodeFor(exception.Failure);
        }
    }

    /// <summary>A state file that cannot be written costs the listing in other sessions, not the worker.</summary>
    private static void Record(WorkerStateDirectory? state, WorkerHost host, WorkerOptions options)
    {
        if (state is null)
        {
            return;
        }
        try
        {
            state.Write(new WorkerStateEntry
            {
                ProcessId = Environment.ProcessId,
                ProcessStartTime = ProcessIdentity.CurrentStartTime(),
                Endpoint = host.Endpoint.ToString(),
                LocalEndpoint = host.LocalEndpoint.ToString(),
                WorkerId = host.WorkerId,
                Name = host.Name,
                Threads = host.Threads,
                PeerPort = host.PeerPort,
                TotalMemoryBytes = host.TotalMemoryBytes,
                LogPath = options.LogFile,
                Detached = options.Detach,
                CertificateThumbprint = host.CertificateThumbprint,
                Authenticated = options.Token is not null,
            });
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"Cannot record the worker in {state.Path}: {exception.Message}");
        }
    }

    private static void ConfigureLogging(ILoggingBuilder logging, WorkerOptions options, RotatingLogFile? log)
    {
        // One line per request from ASP.NET Core would drown the worker's own lines (and rotate them away).
        logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        if (log is not null)
        {
            logging.AddProvider(new FileLoggerProvider(log));
        }
        else if (!options.Quiet)
        {
            // Under systemd, AddSystemd switches this console log to the journal's format (priority prefixes).
            logging.AddSimpleConsole(console => console.SingleLine = true);
        }
    }

    /// <summary>
    /// systemd: readiness notification (Type=notify), SIGTERM as a graceful stop, journal-friendly console log;
    /// Windows: runs as a service when the service manager started it. Both do nothing elsewhere.
    /// </summary>
    private static void AddServiceIntegration(IServiceCollection services)
    {
        services.AddSystemd();
        if (OperatingSystem.IsWindows())
        {
            services.AddWindowsService(service => service.ServiceName = "LlamaDistWorker");
        }
    }

    public static int ExitCodeFor(WorkerStartFailure failure) => failure switch
    {
        WorkerStartFailure.PortInUse => 3,
        WorkerStartFailure.InsecureBinding => 5,
        WorkerStartFailure.InvalidCertificate => 6,
        _ => 4,
    };
}
