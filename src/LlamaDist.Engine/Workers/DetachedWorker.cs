using System.Diagnostics;
using System.Globalization;
using LlamaDist.Engine.Errors;
using LlamaDist.Worker.Hosting;

namespace LlamaDist.Engine.Workers;

/// <summary>
/// Starts the LlamaDist.Worker executable as its own process (Start-LlamaWorker -Detached), waits for its ready
/// line, and lets it outlive this session. The executable sits beside the engine assembly.
/// </summary>
public static class DetachedWorker
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The started process id, its start time (which <see cref="DetachedWorkerStopper.Stop"/> checks before it
    /// signals anything), the endpoint it reported (https://… with TLS) and its certificate's thumbprint. Secrets
    /// (the token, a certificate password) reach it through its environment, never its command line, which every
    /// user of the machine can read.
    /// </summary>
    public static (int ProcessId, DateTime ProcessStartTime, string Endpoint, string WorkerId, string? CertificateThumbprint) Start(
        WorkerStartRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var options = EmbeddedWorker.WorkerOptionsFor(request);
        var workerDll = Path.Combine(Path.GetDirectoryName(typeof(DetachedWorker).Assembly.Location)!, "LlamaDist.Worker.dll");
        if (!File.Exists(workerDll))
        {
            throw new LlamaDistException(LlamaErrorKind.RuntimeMissing, $"The worker executable is missing: {workerDll}. Rebuild or reinstall the module.", workerDll);
        }
        var start = new ProcessStartInfo(DotnetHost(), [workerDll])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        foreach (var argument in Arguments(options))
        {
            start.ArgumentList.Add(argument);
        }
        // Set or cleared explicitly: a variable this session happens to have must not configure the worker.
        SetOrRemove(start, WorkerCommandLine.TokenVariable, options.Token);
        SetOrRemove(start, WorkerCommandLine.CertificatePasswordVariable, options.CertificatePassword);

        var process = Process.Start(start) ?? throw new LlamaDistException(LlamaErrorKind.WorkerFailed, "The worker process did not start.", workerDll);
        var errors = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (errors) errors.AppendLine(e.Data); };
        process.BeginErrorReadLine();
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < ReadyTimeout)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var readLine = process.StandardOutput.ReadLineAsync(cancellationToken).AsTask();
            if (!readLine.Wait(ReadyTimeout - deadline.Elapsed, cancellationToken) || readLine.Result is null)
            {
                break;
            }
            var line = readLine.Result;
            if (line.StartsWith(Worker.Program.ReadyLinePrefix, StringComparison.Ordinal))
            {
                var uri = new Uri(line[Worker.Program.ReadyLinePrefix.Length..].Split(' ')[0]);
                var id = line.Split("(id ")[1].Split(',')[0];
                var thumbprint = line.Contains(", certificate ", StringComparison.Ordinal)
                    ? line.Split(", certificate ")[1].TrimEnd(')') : null;
                // The worker logs to stdout; keep draining it so a full pipe never blocks the worker.
                _ = Task.Run(() => Drain(process.StandardOutput));
                var endpoint = new Distributed.Client.WorkerEndpoint(uri.Host.Trim('[', ']'), uri.Port) { Tls = uri.Scheme == Uri.UriSchemeHttps };
                return (process.Id, DetachedWorkerStopper.StartTimeOf(process), endpoint.ToString(), id, thumbprint);
            }
        }

        if (!process.WaitForExit(2000))
        {
            process.Kill(entireProcessTree: true);
        }
        string message;
        lock (errors)
        {
            message = errors.ToString().Trim();
        }
        var kind = !process.HasExited ? LlamaErrorKind.WorkerFailed : process.ExitCode switch
        {
            3 => LlamaErrorKind.PortInUse,
            4 => LlamaErrorKind.InvalidAddress,
            5 => LlamaErrorKind.InsecureBinding,
            6 => LlamaErrorKind.InvalidCertificate,
            _ => LlamaErrorKind.WorkerFailed,
        };
        throw new LlamaDistException(kind, message.Length > 0 ? message : $"The worker did not report ready within {ReadyTimeout.TotalSeconds} s.",
            $"{options.Address}:{options.Port}");
    }

    private static void SetOrRemove(ProcessStartInfo start, string name, string? value)
    {
        if (value is null)
        {
            start.Environment.Remove(name);
        }
        else
        {
            start.Environment[name] = value;
        }
    }

    private static IEnumerable<string> Arguments(WorkerOptions options)
    {
        yield return "--quiet"; yield return "true";  // after the ready line nothing is written to the pipes this process may close
        yield return "--address"; yield return options.Address;
        yield return "--port"; yield return options.Port.ToString(CultureInfo.InvariantCulture);
        yield return "--threads"; yield return options.Threads.ToString(CultureInfo.InvariantCulture);
        yield return "--cache-directory"; yield return options.CacheDirectory;
        if (options.Name is not null) { yield return "--name"; yield return options.Name; }
        if (options.ModelPath is not null) { yield return "--model-path"; yield return options.ModelPath; }
        yield return "--weight-memory"; yield return options.WeightMemory.ToString().ToLowerInvariant();
        if (options.MaxMemoryBytes > 0) { yield return "--max-memory"; yield return options.MaxMemoryBytes.ToString(CultureInfo.InvariantCulture); }
        yield return "--max-sessions"; yield return options.MaxSessions.ToString(CultureInfo.InvariantCulture);
        yield return "--max-context"; yield return options.MaxContext.ToString(CultureInfo.InvariantCulture);
        yield return "--max-step-tokens"; yield return options.MaxStepTokens.ToString(CultureInfo.InvariantCulture);
        yield return "--lease-timeout"; yield return ((long)Math.Ceiling(options.LeaseTimeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        if (options.AllowInsecure) { yield return "--allow-insecure"; yield return "true"; }
        if (options.CertificatePath is not null) { yield return "--certificate"; yield return options.CertificatePath; }
        if (options.CertificateKeyPath is not null) { yield return "--certificate-key"; yield return options.CertificateKeyPath; }
    }

    /// <summary>The dotnet host running this process (pwsh as a dotnet tool runs under it), else dotnet on PATH.</summary>
    private static string DotnetHost()
    {
        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            return self;
        }
        var root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        var candidate = root is null ? null : Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
        return candidate is not null && File.Exists(candidate) ? candidate : "dotnet";
    }

    private static async Task Drain(StreamReader reader)
    {
        try
        {
            while (await reader.ReadLineAsync().ConfigureAwait(false) is not null)
            {
            }
        }
        catch (Exception exception) when (exception is IOException or ObjectDisposedException)
        {
            // The worker exited.
        }
    }
}
