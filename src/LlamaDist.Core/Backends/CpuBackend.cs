using System.Runtime.InteropServices;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Backends;

/// <summary>
/// The CPU engine as a backend: <see cref="LlamaForward"/> over weights that stay where they were loaded (mapped
/// or resident), on a <see cref="ComputeThreads"/> pool the caller owns. Nothing is copied, so the seam costs the
/// CPU path nothing.
/// </summary>
public sealed class CpuBackend : IComputeBackend
{
    private readonly ComputeThreads threads;

    public CpuBackend(ComputeThreads threads)
    {
        ArgumentNullException.ThrowIfNull(threads);
        this.threads = threads;
    }

    public ComputeBackendKind Kind => ComputeBackendKind.Cpu;

    public ComputeDeviceInfo Device => Describe(threads);

    public IRangeForward Load(LlamaConfig config, LlamaWeights weights) => new LlamaForward(config, weights, threads);

    /// <summary>The pool is the caller's; nothing to release.</summary>
    public void Dispose()
    {
    }

    /// <summary>"X64 CPU, 8 threads" and the memory this process may use (the GC's view: cgroup limits included).</summary>
    public static ComputeDeviceInfo Describe(ComputeThreads threads)
    {
        ArgumentNullException.ThrowIfNull(threads);
        GCMemoryInfo memory = GC.GetGCMemoryInfo();
        long total = memory.TotalAvailableMemoryBytes;
        long free = Math.Max(0, total - memory.MemoryLoadBytes);
        string name = $"{RuntimeInformation.ProcessArchitecture} CPU, {threads.ThreadCount} threads";
        return new ComputeDeviceInfo(ComputeBackendKind.Cpu, name, total, free);
    }
}
