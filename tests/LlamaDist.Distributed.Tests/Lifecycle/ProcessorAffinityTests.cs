using LlamaDist.Worker.Hosting;
using LlamaDist.Worker.Lifecycle;

namespace LlamaDist.Distributed.Tests.Lifecycle;

/// <summary>
/// The CPU lists of --cpu-affinity and -CpuAffinity: parsed and printed as taskset -c spells them, and checked
/// against the CPUs this process may run on. Pinning itself changes the process it runs in, so it is tested on a
/// detached worker (Lifecycle.Tests.ps1), not here.
/// </summary>
public sealed class ProcessorAffinityTests
{
    [Theory]
    [InlineData("0", new[] { 0 })]
    [InlineData("0,2-3", new[] { 0, 2, 3 })]
    [InlineData(" 3 , 1-2 ,1", new[] { 1, 2, 3 })]
    [InlineData("5-5", new[] { 5 })]
    [InlineData("1023", new[] { 1023 })]
    public void Lists_and_ranges_are_parsed_in_order_without_repeats(string text, int[] expected) =>
        Assert.Equal(expected, ProcessorAffinity.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("a")]
    [InlineData("-1")]
    [InlineData("3-1")]
    [InlineData("1-2-3")]
    [InlineData("0,")]
    [InlineData("1024")]
    [InlineData("0-99999999999")]
    public void Anything_else_is_refused_with_an_example(string text)
    {
        var error = Assert.Throws<FormatException>(() => ProcessorAffinity.Parse(text));
        Assert.Contains("0,2-3", error.Message);
    }

    [Fact]
    public void A_long_bad_list_is_not_echoed_whole()
    {
        var error = Assert.Throws<FormatException>(() => ProcessorAffinity.Parse(new string('x', 5000)));
        Assert.True(error.Message.Length < 200, error.Message);
    }

    [Theory]
    [InlineData(new[] { 0, 1, 2, 3 }, "0-3")]
    [InlineData(new[] { 3, 0, 2 }, "0,2-3")]
    [InlineData(new[] { 1, 1, 5, 7, 8, 9 }, "1,5,7-9")]
    [InlineData(new int[0], "")]
    public void Runs_print_as_ranges(int[] cpus, string expected)
    {
        Assert.Equal(expected, ProcessorAffinity.Format(cpus));
        if (cpus.Length > 0)
        {
            Assert.Equal(cpus.Distinct().Order(), ProcessorAffinity.Parse(expected));
        }
    }

    [SkippableFact]
    public void The_available_cpus_are_usable_and_others_are_named()
    {
        Skip.IfNot(ProcessorAffinity.IsSupported, "CPU affinity is supported on Linux and Windows only.");
        var available = ProcessorAffinity.Available();
        Assert.NotEmpty(available);
        Assert.Null(ProcessorAffinity.Problem(available));
        Assert.Null(ProcessorAffinity.Problem([available[0]]));

        int missing = Enumerable.Range(0, ProcessorAffinity.MaxCpu + 1).First(cpu => !available.Contains(cpu));
        var problem = ProcessorAffinity.Problem([available[0], missing]);
        Assert.NotNull(problem);
        Assert.Contains($"CPU {missing} is not available", problem);
        Assert.Contains(ProcessorAffinity.Format(available), problem);
        Assert.Throws<ArgumentException>(() => ProcessorAffinity.Apply([missing]));
        Assert.NotNull(ProcessorAffinity.Problem([]));
    }

    [Fact]
    public void The_command_line_takes_a_list_and_refuses_a_bad_one_with_the_option_named()
    {
        Assert.Equal([0, 2, 3], WorkerCommandLine.Parse(["--cpu-affinity", "0,2-3"])!.CpuAffinity);
        Assert.Empty(WorkerCommandLine.Parse([])!.CpuAffinity);
        Assert.Throws<FormatException>(() => WorkerCommandLine.Parse(["--cpu-affinity", "two"]));
        Assert.Contains("CpuAffinity = 0,2-3", WorkerCommandLine.Parse(["--cpu-affinity", "2-3,0"])!.ToString());
    }
}
