using LlamaDist.Worker.Hosting;
using Microsoft.Extensions.Logging;

namespace LlamaDist.Worker;

/// <summary>
/// dotnet LlamaDist.Worker.dll [--address 127.0.0.1] [--port 50052] [--threads N] [--name NAME]
///   [--model-path FILE|DIR] [--cache-directory DIR] [--max-memory BYTES]
/// Prints one line "LlamaDist worker listening on http://host:port (id ...)" once ready (the module waits for
/// it when it starts a detached worker), logs to the console, and stops on Ctrl+C / SIGTERM.
/// With --quiet true nothing but the ready line is written.
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

        try
        {
            await using var host = await WorkerHost.StartAsync(options, options.Quiet ? null : logging => logging.AddSimpleConsole(console => console.SingleLine = true)).ConfigureAwait(false);
            var certificate = host.CertificateThumbprint is { } thumbprint ? $", certificate {thumbprint}" : "";
            Console.WriteLine($"{ReadyLinePrefix}{host.Endpoint.ToUri()} (id {host.WorkerId}, {host.Threads} threads, process {Environment.ProcessId}{certificate})");
            await host.Stopped.ConfigureAwait(false);
            return 0;
        }
        catch (WorkerStartException exception)
        {
            await Console.Error.WriteLineAsync(exception.Message).ConfigureAwait(false);
            return ExitCodeFor(exception.Failure);
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
