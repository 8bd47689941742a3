using System.Globalization;
using LlamaDist.Core.Model;
using ClusterTokenRules = LlamaDist.Distributed.Security.ClusterToken;

namespace LlamaDist.Worker.Hosting;

/// <summary>The executable's options, spelled like Start-LlamaWorker's parameters.</summary>
public static class WorkerCommandLine
{
    public const string Usage =
        "Usage: dotnet LlamaDist.Worker.dll [--address 127.0.0.1] [--port 50052] [--peer-port 0] [--threads N] [--cpu-affinity 0,2-3]\n" +
        "       [--name NAME] [--model-path FILE|DIR] [--cache-directory DIR] [--max-memory BYTES] [--weight-memory auto|mapped|resident]\n" +
        "       [--backend auto|cpu|cuda|opencl|ilgpucpu]\n" +
        "       [--session-idle-seconds N] [--max-sessions N] [--max-context TOKENS] [--max-step-tokens TOKENS]\n" +
        "       [--lease-timeout SECONDS] [--quiet true] [--max-cache-size BYTES]\n" +
        "       [--token-file FILE] [--allow-insecure true] [--certificate PFX|PEM] [--certificate-key PEM]\n" +
        "       [--certificate-password-file FILE] [--client-certificate-thumbprint SHA256[,SHA256...]]\n" +
        "       [--advertise-address HOST] [--log-file FILE] [--log-max-size BYTES] [--log-files N]\n" +
        "       [--state-directory DIR|none] [--detach true]\n" +
        "The state directory (default $XDG_STATE_HOME/llamadist/workers, else ~/.local/state/llamadist/workers) lists\n" +
        "running workers for Get-LlamaWorker and Stop-LlamaWorker in any session of the same user.\n" +
        "The cluster token also comes from LLAMADIST_TOKEN, a certificate password from LLAMADIST_CERTIFICATE_PASSWORD.";

    /// <summary>Environment variables read when the matching file option is absent (never the command line: it is visible to every user).</summary>
    public const string TokenVariable = "LLAMADIST_TOKEN";

    public const string CertificatePasswordVariable = "LLAMADIST_CERTIFICATE_PASSWORD";

    /// <summary>
    /// The options, or null when help was asked for. Unknown or malformed arguments, and unreadable or malformed
    /// token files, throw FormatException. <paramref name="environment"/> reads variables (the process's by default).
    /// </summary>
    public static WorkerOptions? Parse(IReadOnlyList<string> args, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        // The executable uses the best device it has unless told otherwise (workers built in code default to the CPU).
        var options = new WorkerOptions { StateDirectory = Lifecycle.WorkerStateDirectory.DefaultPath, Backend = LlamaDist.Core.Backends.ComputeBackendChoice.Auto };
        for (int i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (name is "--help" or "-h" or "-?")
            {
                return null;
            }
            if (i + 1 >= args.Count)
            {
                throw new FormatException($"{name} needs a value.");
            }
            var value = args[++i];
            options = name switch
            {
                "--address" => options with { Address = value },
                "--port" => options with { Port = Integer(name, value, 0, 65535) },
                "--peer-port" => options with { PeerPort = Integer(name, value, 0, 65535) },
                "--threads" => options with { Threads = Integer(name, value, 1, 1024) },
                "--cpu-affinity" => options with { CpuAffinity = Lifecycle.ProcessorAffinity.Parse(value) },
                "--name" => options with { Name = value },
                "--model-path" => options with { ModelPath = Path.GetFullPath(value) },
                "--cache-directory" => options with { CacheDirectory = Path.GetFullPath(value) },
                "--max-memory" => options with { MaxMemoryBytes = Long(name, value) },
                "--max-cache-size" => options with { MaxCacheBytes = Long(name, value) },
                "--weight-memory" => options with { WeightMemory = Memory(name, value) },
                "--backend" => options with { Backend = BackendChoice(name, value) },
                "--quiet" => options with { Quiet = value.Equals("true", StringComparison.OrdinalIgnoreCase) },
                "--session-idle-seconds" => options with { SessionIdleTimeout = TimeSpan.FromSeconds(Integer(name, value, 1, 86400)) },
                "--max-sessions" => options with { MaxSessions = Integer(name, value, 1, 65536) },
                "--max-context" => options with { MaxContext = Integer(name, value, 1, 1 << 24) },
                "--max-step-tokens" => options with { MaxStepTokens = Integer(name, value, 1, 1 << 16) },
                "--lease-timeout" => options with { LeaseTimeout = TimeSpan.FromSeconds(Integer(name, value, 1, 86400)) },
                "--token-file" => options with { Token = TokenFromFile(value) },
                "--allow-insecure" => options with { AllowInsecure = Boolean(name, value) },
                "--certificate" => options with { CertificatePath = Path.GetFullPath(value) },
                "--certificate-key" => options with { CertificateKeyPath = Path.GetFullPath(value) },
                "--certificate-password-file" => options with { CertificatePassword = FirstLine(value) },
                "--advertise-address" => options with { AdvertiseAddress = value },
                "--log-file" => options with { LogFile = Path.GetFullPath(value) },
                "--log-max-size" => options with { LogMaxBytes = Math.Max(1024, Long(name, value)) },
                "--log-files" => options with { LogFiles = Integer(name, value, 1, 100) },
                "--state-directory" => options with { StateDirectory = value.Equals("none", StringComparison.OrdinalIgnoreCase) ? null : Path.GetFullPath(value) },
                "--detach" => options with { Detach = Boolean(name, value) },
                "--client-certificate-thumbprint" => options with { TrustedClientThumbprints = [.. options.TrustedClientThumbprints, .. Thumbprints(value)] },
                _ => throw new FormatException($"Unknown option '{name}'."),
            };
        }
        if (options.Token is null && environment(TokenVariable) is { Length: > 0 } token)
        {
            options = options with { Token = Checked(() => ClusterTokenRules.Validate(token, TokenVariable)) };
        }
        if (options.CertificatePassword is null && environment(CertificatePasswordVariable) is { Length: > 0 } password)
        {
            options = options with { CertificatePassword = password };
        }
        return options;
    }

    private static string TokenFromFile(string path) => Checked(() => ClusterTokenRules.ReadFile(path));

    private static string FirstLine(string path) =>
        Checked(() => File.ReadLines(path).FirstOrDefault()?.TrimEnd('\r', '\n') ?? throw new ArgumentException($"{path} is empty."));

    /// <summary>Runs a file or token check, reporting its failure as a command-line error.</summary>
    private static string Checked(Func<string> read)
    {
        try
        {
            return read();
        }
        catch (Exception exception) when (exception is ArgumentException or IOException or UnauthorizedAccessException)
        {
            throw new FormatException(exception.Message, exception);
        }
    }

    private static IEnumerable<string> Thumbprints(string value)
    {
        try
        {
            return value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(LlamaDist.Distributed.Security.CertificatePins.Normalize).ToArray();
        }
        catch (ArgumentException exception)
        {
            throw new FormatException($"--client-certificate-thumbprint: {exception.Message}", exception);
        }
    }

    private static bool Boolean(string name, string value) =>
        bool.TryParse(value, out var flag) ? flag : throw new FormatException($"{name} must be true or false, not '{value}'.");

    private static int Integer(string name, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= min && number <= max
            ? number : throw new FormatException($"{name} must be a whole number from {min} to {max}, not '{value}'.");

    private static WeightMemory Memory(string name, string value) =>
        Enum.TryParse(value, ignoreCase: true, out WeightMemory memory) && Enum.IsDefined(memory) && !int.TryParse(value, out _)
            ? memory : throw new FormatException($"{name} must be auto, mapped or resident, not '{value}'.");

    private static LlamaDist.Core.Backends.ComputeBackendChoice BackendChoice(string name, string value) =>
        Enum.TryParse(value, ignoreCase: true, out LlamaDist.Core.Backends.ComputeBackendChoice choice) && Enum.IsDefined(choice) && !int.TryParse(value, out _)
            ? choice : throw new FormatException($"{name} must be auto, cpu, cuda, opencl or ilgpucpu, not '{value}'.");

    private static long Long(string name, string value) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0
            ? number : throw new FormatException($"{name} must be a positive number of bytes, not '{value}'.");
}
