namespace LlamaDist.Core.Backends;

/// <summary>
/// Where a layer range's forward pass runs: this process's CPU kernels, or ILGPU's kernels on a CUDA device, an
/// OpenCL device, or ILGPU's CPU accelerator (the same kernel code simulated on CPU threads, which is how machines
/// without a GPU exercise the device kernels).
/// </summary>
public enum ComputeBackendKind
{
    Cpu,
    Cuda,
    OpenCL,
    IlgpuCpu,
}
