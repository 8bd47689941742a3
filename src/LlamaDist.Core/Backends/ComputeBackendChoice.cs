namespace LlamaDist.Core.Backends;

/// <summary>
/// The backend a user asks for: one kind, or <see cref="Auto"/> (CUDA, then OpenCL, then the CPU engine, whichever
/// is first available here).
/// </summary>
public enum ComputeBackendChoice
{
    Auto,
    Cpu,
    Cuda,
    OpenCL,
    IlgpuCpu,
}
