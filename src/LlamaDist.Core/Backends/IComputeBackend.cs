using LlamaDist.Core.Model;

namespace LlamaDist.Core.Backends;

/// <summary>
/// A compute backend in the spirit of ggml's: a device that holds layer ranges' weights and runs their forward
/// passes. Architecture-specific code (which tensors a block has, in which order they apply) stays in
/// <see cref="LlamaConfig"/> / <see cref="LlamaWeights"/> above this seam; kernels live below it. Model, cluster
/// and worker code speak only to this interface and to <see cref="IRangeForward"/> / <see cref="IForwardSession"/>.
/// </summary>
public interface IComputeBackend : IDisposable
{
    ComputeBackendKind Kind { get; }

    /// <summary>The device and its memory now.</summary>
    ComputeDeviceInfo Device { get; }

    /// <summary>
    /// Makes <paramref name="weights"/> (one layer range, read from the model file) ready to run on this backend:
    /// the CPU backend uses them where they are, a device backend uploads them once. The caller keeps the weights'
    /// file open for as long as the returned forward pass is used.
    /// </summary>
    IRangeForward Load(LlamaConfig config, LlamaWeights weights);
}
