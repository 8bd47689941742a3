using System.Diagnostics;
using LlamaDist.Engine.Benchmarks;
using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Tests.Benchmarks;

/// <summary>
/// Finding and running llama-bench, with stand-in programs (shell scripts named llama-bench) that answer as the real
/// one does, fail, hang or flood their output. The scripts need a POSIX shell; elsewhere the tests skip.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class LlamaBenchProcessTests : IDisposable
{
    private static readonly BenchmarkRequest Request = new() { PromptTokens = 16, GenerationTokens = 8, Repetitions = 2, BatchSize = 512 };
    private readonly string directory = Directory.CreateTempSubdirectory("llamadist-llama-bench-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private string StandIn(string body, string? inDirectory = null)
    {
        Skip.If(OperatingSystem.IsWindows(), "The stand-in llama-bench is a POSIX shell script.");
        var target = inDirectory ?? directory;
        Directory.CreateDirectory(target);
        var path = Path.Combine(target, "llama-bench");
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    private static string RecordedJson => Path.Combine(AppContext.BaseDirectory, "Data", "llama-bench", "llama-bench-c392e50.json");

    [Fact]
    public void RefusesAMissingDirectory()
    {
        var missing = Path.Combine(directory, "no-such-build");

        var error = Assert.Throws<LlamaDistException>(() => LlamaBench.Locate(missing));

        Assert.Equal(LlamaErrorKind.ReferenceNotFound, error.Kind);
        Assert.Contains("does not exist", error.Message);
    }

    [Fact]
    public void RefusesADirectoryWithoutLlamaBench()
    {
        var error = Assert.Throws<LlamaDistException>(() => LlamaBench.Locate(directory));

        Assert.Equal(LlamaErrorKind.ReferenceNotFound, error.Kind);
        Assert.Contains("No llama-bench", error.Message);
    }

    [SkippableFact]
    public void RefusesAProgramThatIsNotExecutable()
    {
        var path = StandIn("exit 0");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var error = Assert.Throws<LlamaDistException>(() => LlamaBench.Locate(directory));

        Assert.Equal(LlamaErrorKind.ReferenceNotFound, error.Kind);
        Assert.Contains("not executable", error.Message);
    }

    [SkippableFact]
    public void FindsTheProgramInABuildDirectory()
    {
        var path = StandIn("exit 0", Path.Combine(directory, "build", "bin"));

        Assert.Equal(path, LlamaBench.Locate(directory).ProgramPath);
        Assert.Equal(path, LlamaBench.Locate(path).ProgramPath);
    }

    [SkippableFact]
    public void PassesTheTestShapeAndReadsTheResults()
    {
        var arguments = Path.Combine(directory, "arguments.txt");
        StandIn($"printf '%s\\n' \"$@\" > '{arguments}'\ncat '{RecordedJson}'");

        var records = LlamaBench.Locate(directory).Run("/models/tiny.gguf", 3, Request, TimeSpan.FromSeconds(30));

        Assert.Equal(["pp16", "tg8"], records.Select(record => record.Test));
        Assert.Equal(
            ["-m", "/models/tiny.gguf", "-p", "16", "-n", "8", "-t", "3", "-r", "2", "-b", "16", "-ub", "16", "-fa", "0", "-o", "json"],
            File.ReadAllLines(arguments));
    }

    [SkippableFact]
    public void ReportsTheExitStatusAndTheLastErrorLines()
    {
        StandIn("echo '['\necho 'gguf_init_from_file: failed to open GGUF file' >&2\necho \"main: error: failed to load model '$2'\" >&2\nexit 1");

        var error = Assert.Throws<LlamaDistException>(() => LlamaBench.Locate(directory).Run("/models/missing.gguf", 1, Request, TimeSpan.FromSeconds(30)));

        Assert.Equal(LlamaErrorKind.ReferenceFailed, error.Kind);
        Assert.Contains("status 1", error.Message);
        Assert.Contains("failed to load model '/models/missing.gguf'", error.Message);
    }

    [SkippableFact]
    public void StopsAProgramThatRunsPastItsLimit()
    {
        var marker = Path.Combine(directory, "still-running");
        StandIn($"sleep 20\ntouch '{marker}'");
        var clock = Stopwatch.StartNew();

        var error = Assert.Throws<LlamaDistException>(() => LlamaBench.Locate(directory).Run("/models/tiny.gguf", 1, Request, TimeSpan.FromSeconds(1)));

        Assert.Equal(LlamaErrorKind.ReferenceTimedOut, error.Kind);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
        Assert.False(File.Exists(marker));  // the script was killed, not left to finish
    }

    [SkippableFact]
    public void RefusesOutputBeyondItsBound()
    {
        StandIn($"head -c {LlamaBench.MaxOutputBytes + 4096} /dev/zero | tr '\\0' 'x'");

        var error = Assert.Throws<LlamaDistException>(() => LlamaBench.Locate(directory).Run("/models/tiny.gguf", 1, Request, TimeSpan.FromSeconds(60)));

        Assert.Equal(LlamaErrorKind.ReferenceFailed, error.Kind);
        Assert.Contains("more than", error.Message);
    }

    [Fact]
    public void ReadsTheDirectoryFromTheEnvironmentWhenNoneIsGiven()
    {
        // The variable's value is passed in: setting it process-wide would race the tests that read it.
        var error = Assert.Throws<LlamaDistException>(() => LlamaBench.Locate(null, pathVariable: null));
        Assert.Equal(LlamaErrorKind.ReferenceNotFound, error.Kind);
        Assert.Contains(LlamaBench.PathVariable, error.Message);

        Assert.Contains("elsewhere", Assert.Throws<LlamaDistException>(() => LlamaBench.Locate("", Path.Combine(directory, "elsewhere"))).Message);
    }

    [SkippableFact]
    public void AGivenPathWinsOverTheEnvironment()
    {
        var path = StandIn("exit 0");

        Assert.Equal(path, LlamaBench.Locate(directory, Path.Combine(directory, "elsewhere")).ProgramPath);
    }
}
