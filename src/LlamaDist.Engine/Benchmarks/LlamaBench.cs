using System.Diagnostics;
using System.Globalization;
using System.Text;
using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Benchmarks;

/// <summary>
/// llama.cpp's own benchmark program, run as a child process: `llama-bench -m MODEL -p P -n N -t T -r R -b B -ub B
/// -o json`. The run is bounded (a time limit, after which the process tree is killed; at most
/// <see cref="MaxOutputBytes"/> of standard output kept, the last <see cref="ErrorTailBytes"/> of standard error for
/// the message) and its JSON is read by <see cref="LlamaBenchJson"/>.
/// </summary>
public sealed class LlamaBench
{
    /// <summary>The environment variable naming the directory that holds llama-bench (or the program itself).</summary>
    public const string PathVariable = "LLAMADIST_LLAMACPP_BIN";

    public const int MaxOutputBytes = 16 * 1024 * 1024;
    public const int ErrorTailBytes = 2048;

    private static readonly string ProgramName = OperatingSystem.IsWindows() ? "llama-bench.exe" : "llama-bench";

    private LlamaBench(string programPath) => ProgramPath = programPath;

    /// <summary>The llama-bench executable this instance runs.</summary>
    public string ProgramPath { get; }

    /// <summary>
    /// Finds llama-bench: <paramref name="path"/> (a directory holding it, a build directory with it under bin/, or
    /// the program itself), else the directory <see cref="PathVariable"/> names.
    /// </summary>
    /// <exception cref="LlamaDistException">ReferenceNotFound: neither names an executable llama-bench.</exception>
    public static LlamaBench Locate(string? path) => Locate(path, Environment.GetEnvironmentVariable(PathVariable));

    /// <summary><see cref="Locate(string?)"/> with the value of <see cref="PathVariable"/> given.</summary>
    internal static LlamaBench Locate(string? path, string? pathVariable)
    {
        var given = string.IsNullOrWhiteSpace(path) ? pathVariable : path;
        if (string.IsNullOrWhiteSpace(given))
        {
            throw new LlamaDistException(LlamaErrorKind.ReferenceNotFound,
                $"No llama.cpp build given: pass the directory that holds llama-bench (-LlamaCppPath) or set {PathVariable}.", PathVariable);
        }

        var fullPath = Path.GetFullPath(given);
        var candidates = Directory.Exists(fullPath)
            ? new[] { fullPath, Path.Combine(fullPath, "bin"), Path.Combine(fullPath, "build", "bin") }.Select(directory => Path.Combine(directory, ProgramName))
            : [fullPath];
        var program = candidates.FirstOrDefault(File.Exists) ?? throw new LlamaDistException(LlamaErrorKind.ReferenceNotFound,
            Directory.Exists(fullPath) ? $"No {ProgramName} in {fullPath} (nor in its bin or build/bin)." : $"{fullPath} does not exist.", fullPath);
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(program) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) == 0)
        {
            throw new LlamaDistException(LlamaErrorKind.ReferenceNotFound, $"{program} is not executable.", program);
        }
        return new LlamaBench(program);
    }

    /// <summary>The arguments of one run: llama-bench's pp and tg tests with the shape LlamaDist measures.</summary>
    public static IReadOnlyList<string> Arguments(string modelPath, int threads, BenchmarkRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var batch = Math.Max(1, Math.Min(request.BatchSize, Math.Max(request.PromptTokens, 1)));
        return
        [
            "-m", modelPath,
            "-p", request.PromptTokens.ToString(CultureInfo.InvariantCulture),
            "-n", request.GenerationTokens.ToString(CultureInfo.InvariantCulture),
            "-t", threads.ToString(CultureInfo.InvariantCulture),
            "-r", request.Repetitions.ToString(CultureInfo.InvariantCulture),
            // One batch and micro-batch of BatchSize tokens, as LlamaDist evaluates a prompt.
            "-b", batch.ToString(CultureInfo.InvariantCulture),
            "-ub", batch.ToString(CultureInfo.InvariantCulture),
            // Flash attention off: the attention path LlamaDist mirrors.
            "-fa", "0",
            "-o", "json",
        ];
    }

    /// <summary>Runs llama-bench once with <see cref="Arguments"/> and returns its results in its own order.</summary>
    /// <exception cref="LlamaDistException">ReferenceFailed, ReferenceTimedOut, or ReferenceNotFound when it cannot start.</exception>
    public IReadOnlyList<LlamaBenchRecord> Run(string modelPath, int threads, BenchmarkRequest request, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (threads < 1) throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Threads must be at least 1, not {threads}.", nameof(threads));
        if (timeout <= TimeSpan.Zero) throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"The time limit must be positive, not {timeout}.", nameof(timeout));
        var output = RunProcess(Arguments(modelPath, threads, request), timeout, cancellationToken);
        return LlamaBenchJson.Parse(output, ProgramPath);
    }

    /// <summary>Standard output of one run that exited with status 0.</summary>
    internal string RunProcess(IReadOnlyList<string> arguments, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(ProgramPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Exception exception) when (exception is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new LlamaDistException(LlamaErrorKind.ReferenceNotFound, $"{ProgramPath} could not be started: {exception.Message}", ProgramPath, exception);
        }
        process.StandardInput.Close();

        var output = new BoundedText(MaxOutputBytes, keepTail: false);
        var errors = new BoundedText(ErrorTailBytes, keepTail: true);
        var readOutput = output.ReadAllAsync(process.StandardOutput);
        var readErrors = errors.ReadAllAsync(process.StandardError);

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            process.WaitForExitAsync(limit.Token).GetAwaiter().GetResult();
            // A child it left behind could hold the pipes open: the reads end within the same limit.
            Task.WhenAll(readOutput, readErrors).WaitAsync(limit.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            cancellationToken.ThrowIfCancellationRequested();
            throw new LlamaDistException(LlamaErrorKind.ReferenceTimedOut,
                $"llama-bench ran longer than {timeout.TotalSeconds:0} s and was stopped.", ProgramPath);
        }

        if (process.ExitCode != 0)
        {
            var tail = errors.Text.Trim();
            throw new LlamaDistException(LlamaErrorKind.ReferenceFailed,
                $"llama-bench exited with status {process.ExitCode}{(tail.Length > 0 ? $": {LastLines(tail, 4)}" : ".")}", ProgramPath);
        }
        if (output.Overflowed)
        {
            throw new LlamaDistException(LlamaErrorKind.ReferenceFailed, $"llama-bench wrote more than {MaxOutputBytes} bytes of output.", ProgramPath);
        }
        return output.Text;
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
            // It exited on its own in between.
        }
    }

    private static string LastLines(string text, int count)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var kept = string.Join(" | ", lines.Skip(Math.Max(0, lines.Length - count)));
        return new string(kept.Where(character => !char.IsControl(character)).ToArray());
    }

    /// <summary>Text read from a stream, keeping at most a number of characters: the first ones, or the last ones.</summary>
    private sealed class BoundedText(int limit, bool keepTail)
    {
        private readonly StringBuilder text = new();

        public bool Overflowed { get; private set; }

        public string Text
        {
            get { lock (text) return text.ToString(); }
        }

        public async Task ReadAllAsync(StreamReader reader)
        {
            var buffer = new char[16 * 1024];
            int read;
            while ((read = await reader.ReadAsync(buffer.AsMemory()).ConfigureAwait(false)) > 0)
            {
                lock (text)
                {
                    if (keepTail)
                    {
                        text.Append(buffer, 0, read);
                        if (text.Length > limit) text.Remove(0, text.Length - limit);
                    }
                    else if (text.Length + read <= limit) text.Append(buffer, 0, read);
                    else Overflowed = true;  // keep draining, so the child never blocks on a full pipe
                }
            }
        }
    }
}
