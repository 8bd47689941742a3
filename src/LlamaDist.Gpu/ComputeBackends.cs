using LlamaDist.Core.Backends;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Gpu;

/// <summary>
/// Opens the backend a user chose. <see cref="ComputeBackendChoice.Auto"/> tries CUDA, then OpenCL, and settles on
/// the CPU engine, saying through <c>verbose</c> what it found missing; an explicit choice that cannot run here
/// throws <see cref="BackendUnavailableException"/> naming what is missing.
/// </summary>
public static class ComputeBackends
{
    public static IComputeBackend Open(ComputeBackendChoice choice, ComputeThreads threads, Action<string>? verbose = null)
    {
        ArgumentNullException.ThrowIfNull(threads);
        switch (choice)
        {
            case ComputeBackendChoice.Cpu:
                return new CpuBackend(threads);
            case ComputeBackendChoice.Cuda:
                return IlgpuBackend.Create(ComputeBackendKind.Cuda);
            case ComputeBackendChoice.OpenCL:
                return IlgpuBackend.Create(ComputeBackendKind.OpenCL);
            case ComputeBackendChoice.IlgpuCpu:
                return IlgpuBackend.Create(ComputeBackendKind.IlgpuCpu);
            case ComputeBackendChoice.Auto:
                foreach (var kind in new[] { ComputeBackendKind.Cuda, ComputeBackendKind.OpenCL })
                {
                    try
                    {
                        var backend = IlgpuBackend.Create(kind);
                        verbose?.Invoke($"Backend Auto: using {kind} on {backend.Device.Name}.");
                        return backend;
                    }
                    catch (BackendUnavailableException unavailable)
                    {
                        verbose?.Invoke($"Backend Auto: {unavailable.Message}");
                    }
                }
                verbose?.Invoke("Backend Auto: using the CPU engine.");
                return new CpuBackend(threads);
            default:
                throw new ArgumentOutOfRangeException(nameof(choice), choice, "Unknown backend.");
        }
    }

    /// <summary>
    /// How weights should be read for <paramref name="backend"/>: a device backend uploads ggml's row layout, so
    /// its host copy stays mapped (a resident copy would be regrouped for the CPU kernels and then thrown away).
    /// </summary>
    public static WeightMemory WeightMemoryFor(IComputeBackend backend, WeightMemory requested) =>
        backend.Kind == ComputeBackendKind.Cpu ? requested : WeightMemory.Mapped;
}
