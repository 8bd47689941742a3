using System.Diagnostics;
using System.Globalization;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Workers.Runtime;
using LlamaDist.Worker.Hosting;
using LlamaDist.Worker.Lifecycle;

namespace LlamaDist.Engine.Workers;

/// <summary>
/// Starts the LlamaDist.Worker executable as its own process (Start-LlamaWorker -Detached) and lets it outlive
/// this session. The worker leaves this session's process group and terminal (--detach true: setsid, standard
/// handles on /dev/null; on Windows it runs windowless with redirected handles, so it shares no console), logs
/// to a rotated file, and is ready once it has recorded itself in the state directory (&lt;pid&gt;.json). Any
/// failure after the process started stops it before the error is reported: no orphan worker.
/// </summary>
public static class DetachedWorker
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Most characters of a failed worker's own error quoted in the exception.</summary>
    private const int MaxQuotedError = 2000;

    /// <summary>
    /// &lt;state root&gt;/workers/&lt;port&gt;.log (port 0: worker-&lt;random&gt;.log); the state root is
    /// $XDG_STATE_HOME/llamadist, ~/.local/state/llamadist, or LocalApplicationData\llamadist.
    /// </summary>
    public static string DefaultLogPath(int port) =>
        Path.Combine(WorkerStateDirectory.DefaultPath,
            port > 0 ? $"{port.ToString(CultureInfo.InvariantCulture)}.log" : $"worker-{Guid.NewGuid().ToString("N")[..8]}.log");

    /// <summary>
    /// Starts a worker and waits until it listens. Secrets (the token, a certificate password) reach it through its
    /// environment, never its command line, which every user of the machine can read.
    /// </summary>
    public static DetachedWorkerInfo Start(WorkerStartRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var options = EmbeddedWorker.WorkerOptionsFor(request);
        var workerDll = Path.Combine(Path.GetDirectoryName(typeof(DetachedWorker).Assembly.Location)!, "LlamaDist.Worker.dll");
        if (!File.Exists(workerDll))
        {
            throw new LlamaDistException(LlamaErrorKind.RuntimeMissing, $"The worker executable is missing: {workerDll}. Rebuild or reinstall the module.", workerDll);
        }
        var logPath = Path.GetFullPath(string.IsNullOrEmpty(request.LogPath) ? DefaultLogPath(options.Port) : request.LogPath);
        var state = WorkerStateDirectory.Default;
        // Every handle redirected: the worker inherits none of this console's (it points its own at /dev/null
        // once it has left this session); only argument errors are written before that, to the error pipe.
        var dotnetHost = RuntimeRequirements.EnsureDetachedWorkerHost(workerDll);
        var start = new ProcessStartInfo(dotnetHost, [workerDll])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            CreateNoWindow = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        foreach (var argument in Arguments(options, logPath, state.Path))
        {
            start.ArgumentList.Add(argument);
        }
        // Set or cleared explicitly: a variable this session happens to have must not configure the worker.
        SetOrRemove(start, WorkerCommandLine.TokenVariable, options.Token);
        SetOrRemove(start, WorkerCommandLine.CertificatePasswordVariable, options.CertificatePassword);

        var process = Process.Start(start) ?? throw new LlamaDistException(LlamaErrorKind.WorkerFailed, "The worker process did not start.", workerDll);
        using (process)
        {
            process.StandardInput.Close();
            var errors = process.StandardError.ReadToEndAsync(cancellationToken);
            _ = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var startTime = DetachedWorkerStopper.StartTimeOf(process);
            try
            {
                var entry = WaitForEntry(process, state, cancellationToken);
                if (entry is not null)
                {
                    return new DetachedWorkerInfo(entry.ProcessId, entry.ProcessStartTime, entry.Endpoint, entry.LocalEndpoint, entry.WorkerId,
                        entry.Name, entry.CertificateThumbprint, logPath) { PeerPort = entry.PeerPort };
                }
            }
            catch (OperationCanceledException)
            {
                DetachedWorkerStopper.Stop(process.Id, startTime);
                throw;
            }

            var exited = process.WaitForExit(TimeSpan.FromSeconds(1));
            if (!exited)
            {
                DetachedWorkerStopper.Stop(process.Id, startTime);
            }
            var message = Quoted(exited && errors.Wait(TimeSpan.FromSeconds(2)) ? errors.Result : "", logPath);
            var kind = !exited ? LlamaErrorKind.WorkerFailed : process.ExitCode switch
            {
                3 => LlamaErrorKind.PortInUse,
                4 => LlamaErrorKind.InvalidAddress,
                5 => LlamaErrorKind.InsecureBinding,
                6 => LlamaErrorKind.InvalidCertificate,
                _ => LlamaErrorKind.WorkerFailed,
            };
            var fallback = exited
                ? $"The worker exited with code {process.ExitCode} before it was ready; see its log {logPath}."
                : $"The worker did not report ready within {ReadyTimeout.TotalSeconds} s and was stopped; see its log {logPath}.";
            throw new LlamaDistException(kind, message.Length > 0 ? message : fallback,
                $"{options.Address}:{options.Port}");
        }
    }

    /// <summary>The worker's state entry once it is ready, or null when it exited or the time ran out.</summary>
    private static WorkerStateEntry? WaitForEntry(Process process, WorkerStateDirectory state, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < ReadyTimeout)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (File.Exists(state.FileOf(process.Id)) && state.Find(process.Id) is { } entry)
            {
                return entry;
            }
            if (process.WaitForExit(TimeSpan.FromMilliseconds(50)))
            {
                return null;
            }
        }
        return null;
    }

    /// <summary>What the worker said before it exited: its error output, else the end of its log.</summary>
    private static string Quoted(string errorOutput, string logPath)
    {
        var text = errorOutput.Trim();
        if (text.Length == 0 && File.Exists(logPath))
        {
            try
            {
                text = File.ReadLines(logPath).LastOrDefault(line => line.Contains("Cannot start: ", StringComparison.Ordinal))
                    ?.Split("Cannot start: ", 2)[1] ?? "";
            }
            catch (IOException)
            {
                text = "";
            }
        }
        return text.Length > MaxQuotedError ? text[..MaxQuotedError] + "..." : text;
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

    private static IEnumerable<string> Arguments(WorkerOptions options, string logPath, string stateDirectory)
    {
        yield return "--detach"; yield return "true";
        yield return "--log-file"; yield return logPath;
        yield return "--state-directory"; yield return stateDirectory;
        yield return "--address"; yield return options.Address;
        yield return "--port"; yield return options.Port.ToString(CultureInfo.InvariantCulture);
        if (options.PeerPort != 0) { yield return "--peer-port"; yield return options.PeerPort.ToString(CultureInfo.InvariantCulture); }
        yield return "--threads"; yield return options.Threads.ToString(CultureInfo.InvariantCulture);
        if (options.CpuAffinity.Count > 0) { yield return "--cpu-affinity"; yield return Worker.Lifecycle.ProcessorAffinity.Format(options.CpuAffinity); }
        yield return "--cache-directory"; yield return options.CacheDirectory;
        if (options.Name is not null) { yield return "--name"; yield return options.Name; }
        if (options.AdvertiseAddress is not null) { yield return "--advertise-address"; yield return options.AdvertiseAddress; }
        if (options.ModelPath is not null) { yield return "--model-path"; yield return options.ModelPath; }
        yield return "--weight-memory"; yield return options.WeightMemory.ToString().ToLowerInvariant();
        yield return "--backend"; yield return options.Backend.ToString().ToLowerInvariant();
        if (options.MaxMemoryBytes > 0) { yield return "--max-memory"; yield return options.MaxMemoryBytes.ToString(CultureInfo.InvariantCulture); }
        yield return "--max-cache-size"; yield return options.MaxCacheBytes.ToString(CultureInfo.InvariantCulture);
        yield return "--max-sessions"; yield return options.MaxSessions.ToString(CultureInfo.InvariantCulture);
        yield return "--max-context"; yield return options.MaxContext.ToString(CultureInfo.InvariantCulture);
        yield return "--max-step-tokens"; yield return options.MaxStepTokens.ToString(CultureInfo.InvariantCulture);
        yield return "--lease-timeout"; yield return ((long)Math.Ceiling(options.LeaseTimeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        if (options.AllowInsecure) { yield return "--allow-insecure"; yield return "true"; }
        if (options.CertificatePath is not null) { yield return "--certificate"; yield return options.CertificatePath; }
        if (options.CertificateKeyPath is not null) { yield return "--certificate-key"; yield return options.CertificateKeyPath; }
        if (options.TrustedClientThumbprints.Count > 0) { yield return "--client-certificate-thumbprint"; yield return string.Join(",", options.TrustedClientThumbprints); }
    }
}
