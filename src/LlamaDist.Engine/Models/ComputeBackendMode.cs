using LlamaDist.Core.Backends;

namespace LlamaDist.Engine.Models;

/// <summary>
/// Where a model's layers run: the engine's name for the core's <see cref="ComputeBackendChoice"/>, which stays off
/// the engine's public surface. Auto prefers CUDA, then OpenCL, then the CPU engine.
/// </summary>
public enum ComputeBackendMode
{
    /// <summary>CUDA when a device is found, else OpenCL, else the CPU engine (saying why through the verbose stream).</summary>
    Auto,

    /// <summary>The CPU engine (SIMD kernels on this machine's cores).</summary>
    Cpu,

    /// <summary>ILGPU's kernels on the first CUDA device.</summary>
    Cuda,

    /// <summary>ILGPU's kernels on the first OpenCL device.</summary>
    OpenCL,

    /// <summary>ILGPU's kernels on ILGPU's CPU accelerator (slow; for checking the device kernels without a GPU).</summary>
    IlgpuCpu,
}

internal static class ComputeBackendModeMapping
{
    public static ComputeBackendChoice ToCore(this ComputeBackendMode mode) => mode switch
    {
        ComputeBackendMode.Cpu => ComputeBackendChoice.Cpu,
        ComputeBackendMode.Cuda => ComputeBackendChoice.Cuda,
        ComputeBackendMode.OpenCL => ComputeBackendChoice.OpenCL,
        ComputeBackendMode.IlgpuCpu => ComputeBackendChoice.IlgpuCpu,
        _ => ComputeBackendChoice.Auto,
    };

    public static ComputeBackendMode FromCore(ComputeBackendKind kind) => kind switch
    {
        ComputeBackendKind.Cuda => ComputeBackendMode.Cuda,
        ComputeBackendKind.OpenCL => ComputeBackendMode.OpenCL,
        ComputeBackendKind.IlgpuCpu => ComputeBackendMode.IlgpuCpu,
        _ => ComputeBackendMode.Cpu,
    };
}
