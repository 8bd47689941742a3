using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace LlamaDist.KernelBenchmarks;

/// <summary>
/// Entry point: BenchmarkDotNet's switcher over the kernel benchmarks in this assembly (pass <c>--filter '*'</c>
/// for all). Every benchmark takes the SIMD level as a parameter, so one run times the AVX2 and AVX-512 paths
/// of a kernel on the same data, one after the other in one process.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // In-process: no generated project per benchmark (quick on a shared machine), and the same JIT flags for
        // both levels. ShortRun keeps a full sweep to a few minutes; pass --job Medium for tighter intervals.
        IConfig config = DefaultConfig.Instance
            .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance))
            .WithOptions(ConfigOptions.DisableOptimizationsValidator);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
        return 0;
    }
}
