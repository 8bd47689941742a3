using LlamaDist.Core.Model;
using LlamaDist.Worker.Hosting;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>The executable's options: every one parsed into WorkerOptions, bad values refused with the option named.</summary>
public sealed class WorkerCommandLineTests
{
    [Fact]
    public void Every_option_is_parsed()
    {
        WorkerOptions options = WorkerCommandLine.Parse(
        [
            "--address", "0.0.0.0", "--port", "50060", "--threads", "3", "--name", "pc1", "--max-memory", "1048576",
            "--weight-memory", "Mapped", "--session-idle-seconds", "30", "--quiet", "true",
        ])!;

        Assert.Equal("0.0.0.0", options.Address);
        Assert.Equal(50060, options.Port);
        Assert.Equal(3, options.Threads);
        Assert.Equal("pc1", options.Name);
        Assert.Equal(1048576, options.MaxMemoryBytes);
        Assert.Equal(WeightMemory.Mapped, options.WeightMemory);
        Assert.Equal(TimeSpan.FromSeconds(30), options.SessionIdleTimeout);
        Assert.True(options.Quiet);
    }

    [Theory]
    [InlineData("auto", LlamaDist.Core.Backends.ComputeBackendChoice.Auto)]
    [InlineData("cpu", LlamaDist.Core.Backends.ComputeBackendChoice.Cpu)]
    [InlineData("CUDA", LlamaDist.Core.Backends.ComputeBackendChoice.Cuda)]
    [InlineData("opencl", LlamaDist.Core.Backends.ComputeBackendChoice.OpenCL)]
    [InlineData("ilgpucpu", LlamaDist.Core.Backends.ComputeBackendChoice.IlgpuCpu)]
    public void The_backend_is_parsed_and_the_executable_defaults_to_auto(string value, LlamaDist.Core.Backends.ComputeBackendChoice expected)
    {
        Assert.Equal(expected, WorkerCommandLine.Parse(["--backend", value])!.Backend);
        Assert.Equal(LlamaDist.Core.Backends.ComputeBackendChoice.Auto, WorkerCommandLine.Parse([])!.Backend);
        Assert.Equal(LlamaDist.Core.Backends.ComputeBackendChoice.Cpu, new WorkerOptions().Backend);
    }

    [Theory]
    [InlineData("vulkan")]
    [InlineData("1")]
    public void An_unknown_backend_is_refused_with_the_option_named(string value)
    {
        var error = Assert.Throws<FormatException>(() => WorkerCommandLine.Parse(["--backend", value]));
        Assert.Contains("--backend", error.Message);
    }

    [Fact]
    public void Admission_and_lease_options_are_parsed_and_have_defaults()
    {
        WorkerOptions options = WorkerCommandLine.Parse(
            ["--max-sessions", "4", "--max-context", "2048", "--max-step-tokens", "64", "--lease-timeout", "30"])!;
        Assert.Equal(4, options.MaxSessions);
        Assert.Equal(2048, options.MaxContext);
        Assert.Equal(64, options.MaxStepTokens);
        Assert.Equal(TimeSpan.FromSeconds(30), options.LeaseTimeout);

        var defaults = WorkerCommandLine.Parse([])!;
        Assert.Equal(WorkerOptions.DefaultMaxSessions, defaults.MaxSessions);
        Assert.Equal(WorkerOptions.DefaultMaxContext, defaults.MaxContext);
        Assert.Equal(512, defaults.MaxStepTokens);
        Assert.Equal(TimeSpan.FromSeconds(90), defaults.LeaseTimeout);
    }

    [Theory]
    [InlineData("auto", WeightMemory.Auto)]
    [InlineData("mapped", WeightMemory.Mapped)]
    [InlineData("RESIDENT", WeightMemory.Resident)]
    public void Weight_memory_is_read_in_any_case(string value, WeightMemory expected)
    {
        Assert.Equal(expected, WorkerCommandLine.Parse(["--weight-memory", value])!.WeightMemory);
    }

    [Fact]
    public void Weight_memory_defaults_to_auto()
    {
        Assert.Equal(WeightMemory.Auto, WorkerCommandLine.Parse([])!.WeightMemory);
    }

    [Theory]
    [InlineData("--weight-memory", "2")]
    [InlineData("--weight-memory", "fast")]
    [InlineData("--port", "70000")]
    [InlineData("--threads", "0")]
    [InlineData("--max-memory", "-1")]
    [InlineData("--max-sessions", "0")]
    [InlineData("--max-context", "0")]
    [InlineData("--max-step-tokens", "0")]
    [InlineData("--lease-timeout", "0")]
    public void A_bad_value_is_refused_naming_the_option(string name, string value)
    {
        var error = Assert.Throws<FormatException>(() => WorkerCommandLine.Parse([name, value]));
        Assert.Contains(name, error.Message);
    }

    [Fact]
    public void An_unknown_option_or_a_missing_value_is_refused()
    {
        Assert.Throws<FormatException>(() => WorkerCommandLine.Parse(["--colour", "blue"]));
        Assert.Throws<FormatException>(() => WorkerCommandLine.Parse(["--port"]));
        Assert.Null(WorkerCommandLine.Parse(["--help"]));
    }
}
